// One test per way a model file can be malformed: each asserts the specific GGUFError case and
// (through loadError) that the description names the file. None may crash.

import ClipgenFile
import Foundation
import Testing

@Suite struct MalformedFileTests {
    let dir = ScratchDirectory()

    @Test func sampleIsValid() throws {
        let file = try GGUFFile(path: dir.write(sampleBytes()))
        #expect(file.tensorCount == 3)
    }

    @Test func wrongMagic() {
        var b = sampleBytes()
        patch(&b, at: 0, Array("GGML".utf8))
        let e = loadError(b, in: dir)
        expectCase(e, "badMagic") { if case .badMagic(_, 0x4C4D_4747) = $0 { return true }; return false }
        #expect(e?.description.contains("not a GGUF file") == true)
    }

    @Test func unsupportedVersion() {
        var b = sampleBytes()
        patch(&b, at: 4, UInt32(2))
        expectCase(loadError(b, in: dir), "unsupportedVersion") {
            if case .unsupportedVersion(_, 2) = $0 { return true }; return false
        }
    }

    @Test func emptyFile() {
        expectCase(loadError([], in: dir), "truncatedHeader") {
            if case .truncatedHeader(_, 0, "magic") = $0 { return true }; return false
        }
    }

    @Test func truncatedInCounts() {
        expectCase(loadError(Array(sampleBytes()[..<12]), in: dir), "truncatedHeader tensor_count") {
            if case .truncatedHeader(_, 8, "tensor_count") = $0 { return true }; return false
        }
        expectCase(loadError(Array(sampleBytes()[..<20]), in: dir), "truncatedHeader kv_count") {
            if case .truncatedHeader(_, 16, "kv_count") = $0 { return true }; return false
        }
    }

    /// A file whose entries are long enough that cutting into the last one leaves every count plausible.
    func longEntries() -> [UInt8] {
        var w = GGUFWriter()
        for i in 0..<3 { w.add("clipgen.long_key_number_\(i)", .uint64(UInt64(i))) }
        for i in 0..<2 { w.addTensor("a_rather_long_tensor_name_number_\(i)", shape: [2], f32: [1, 2]) }
        return try! w.encoded()
    }

    @Test func truncatedInKey() {
        let b = longEntries()
        let cut = byteOffset(of: "clipgen.long_key_number_2", in: b) - 4  // inside the key's length
        expectCase(loadError(Array(b[..<cut]), in: dir), "truncatedHeader key") {
            if case .truncatedHeader(_, _, "length of key of metadata entry #2") = $0 { return true }; return false
        }
    }

    @Test func truncatedInValue() {
        let b = longEntries()
        let cut = byteOffset(after: "clipgen.long_key_number_2", in: b) + 4 + 5  // type read, value cut
        let e = loadError(Array(b[..<cut]), in: dir)
        expectCase(e, "truncatedHeader value") {
            if case .truncatedHeader(_, _, "value of key 'clipgen.long_key_number_2'") = $0 { return true }
            return false
        }
        #expect(e?.description.contains("clipgen.long_key_number_2") == true)
    }

    @Test func truncatedInTensorInfo() {
        let b = longEntries()
        let cut = InfoFields("a_rather_long_tensor_name_number_1", in: b).type + 1
        expectCase(loadError(Array(b[..<cut]), in: dir), "truncatedHeader tensor type") {
            if case .truncatedHeader(_, _, "type of tensor 'a_rather_long_tensor_name_number_1'") = $0 { return true }
            return false
        }
    }

    @Test func truncatedCountsAreAbsurd() {
        // Cutting the sample file inside its metadata leaves too few bytes for three tensor infos.
        let b = sampleBytes()
        expectCase(loadError(Array(b[..<80]), in: dir), "absurdCount") {
            if case .absurdCount(_, "tensor_count", 3, _) = $0 { return true }; return false
        }
    }

    @Test func keyLengthPastEOF() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "clipgen.key_a", in: b) - 8, UInt64(1) << 40)
        expectCase(loadError(b, in: dir), "stringPastEOF") {
            if case .stringPastEOF(_, "key of metadata entry #2", 1 << 40, _) = $0 { return true }; return false
        }
    }

    @Test func stringValueLengthPastEOF() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(after: "clipgen.text", in: b) + 4, UInt64.max)
        let e = loadError(b, in: dir)
        expectCase(e, "stringPastEOF") {
            if case .stringPastEOF(_, "value of key 'clipgen.text'", .max, _) = $0 { return true }; return false
        }
    }

    @Test func arrayCountAbsurd() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(after: "clipgen.list", in: b) + 8, UInt64(1) << 61)
        expectCase(loadError(b, in: dir), "absurdCount") {
            if case .absurdCount(_, "element count of key 'clipgen.list'", 1 << 61, _) = $0 { return true }
            return false
        }
    }

    @Test func tensorAndKVCountsAbsurd() {
        var b = sampleBytes()
        patch(&b, at: 8, UInt64.max)
        expectCase(loadError(b, in: dir), "absurdCount tensor_count") {
            if case .absurdCount(_, "tensor_count", .max, _) = $0 { return true }; return false
        }
        b = sampleBytes()
        patch(&b, at: 16, UInt64(1) << 32)
        expectCase(loadError(b, in: dir), "absurdCount kv_count") {
            if case .absurdCount(_, "kv_count", 1 << 32, _) = $0 { return true }; return false
        }
    }

    @Test func unknownValueType() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(after: "clipgen.key_a", in: b), UInt32(13))
        expectCase(loadError(b, in: dir), "unknownValueType") {
            if case .unknownValueType(_, "clipgen.key_a", 13) = $0 { return true }; return false
        }
    }

    @Test func nestedArray() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(after: "clipgen.list", in: b) + 4, GGUFValueType.array.rawValue)
        expectCase(loadError(b, in: dir), "nestedArray") {
            if case .nestedArray(_, "clipgen.list") = $0 { return true }; return false
        }
    }

    @Test func duplicateKey() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "clipgen.key_b", in: b), Array("clipgen.key_a".utf8))
        expectCase(loadError(b, in: dir), "duplicateKey") {
            if case .duplicateKey(_, "clipgen.key_a") = $0 { return true }; return false
        }
    }

    @Test func invalidUTF8InKey() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "clipgen.key_b", in: b) + 2, [0xC0, 0xAF])  // overlong '/'
        expectCase(loadError(b, in: dir), "invalidUTF8 key") {
            if case .invalidUTF8(_, "key of metadata entry #3") = $0 { return true }; return false
        }
    }

    @Test func invalidUTF8InTensorName() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "tensor_f16", in: b) + 9, [0xED])  // lead byte of a 3-byte sequence, cut short
        expectCase(loadError(b, in: dir), "invalidUTF8 tensor name") {
            if case .invalidUTF8(_, "name of tensor #1") = $0 { return true }; return false
        }
    }

    @Test func invalidUTF8InStringValue() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "hello", in: b), [0xED, 0xA0, 0x80])  // UTF-16 surrogate
        expectCase(loadError(b, in: dir), "invalidUTF8 value") {
            if case .invalidUTF8(_, "value of key 'clipgen.text'") = $0 { return true }; return false
        }
        b = sampleBytes()
        patch(&b, at: byteOffset(of: "cd", in: b), [0xFF])
        expectCase(loadError(b, in: dir), "invalidUTF8 array element") {
            if case .invalidUTF8(_, "element 1 of key 'clipgen.words'") = $0 { return true }; return false
        }
    }

    @Test(arguments: [UInt32(0), 3, 48, 1 << 17])
    func badAlignmentValue(_ value: UInt32) {
        var b = try! sampleWriter(alignment: 64).encoded()
        patch(&b, at: byteOffset(after: "general.alignment", in: b) + 4, value)
        expectCase(loadError(b, in: dir), "badAlignment") {
            if case .badAlignment(_, let reason) = $0 { return reason.contains("\(value)") }; return false
        }
    }

    @Test func badAlignmentType() {
        var b = try! sampleWriter(alignment: 64).encoded()
        patch(&b, at: byteOffset(after: "general.alignment", in: b), GGUFValueType.int32.rawValue)
        expectCase(loadError(b, in: dir), "badAlignment type") {
            if case .badAlignment(_, let reason) = $0 { return reason.contains("int32") }; return false
        }
    }

    @Test(arguments: [UInt32(0), 5, 1000])
    func badDimensionCount(_ nDims: UInt32) {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).nDims, nDims)
        expectCase(loadError(b, in: dir), "badDimensionCount") {
            if case .badDimensionCount(_, "tensor_f16", nDims) = $0 { return true }; return false
        }
    }

    @Test func zeroDimension() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f32", in: b).dims + 8, UInt64(0))
        expectCase(loadError(b, in: dir), "zeroDimension") {
            if case .zeroDimension(_, "tensor_f32", [4, 0]) = $0 { return true }; return false
        }
    }

    @Test func elementCountOverflow() {
        var b = sampleBytes()
        let f = InfoFields("tensor_f32", in: b)
        patch(&b, at: f.dims, UInt64(1) << 40)
        patch(&b, at: f.dims + 8, UInt64(1) << 40)
        expectCase(loadError(b, in: dir), "elementCountOverflow") {
            if case .elementCountOverflow(_, "tensor_f32", [1 << 40, 1 << 40]) = $0 { return true }; return false
        }
        b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).dims, UInt64.max)  // does not fit Int
        expectCase(loadError(b, in: dir), "elementCountOverflow single dim") {
            if case .elementCountOverflow(_, "tensor_f16", _) = $0 { return true }; return false
        }
        b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f32", in: b).dims, UInt64(1) << 62)  // elements fit, bytes do not
        expectCase(loadError(b, in: dir), "elementCountOverflow bytes") {
            if case .elementCountOverflow(_, "tensor_f32", _) = $0 { return true }; return false
        }
    }

    @Test func unknownTensorType() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_q80", in: b).type, UInt32(2))  // Q4_0
        let e = loadError(b, in: dir)
        expectCase(e, "unknownTensorType") {
            if case .unknownTensorType(_, "tensor_q80", 2) = $0 { return true }; return false
        }
        #expect(e?.description.contains("tensor_q80") == true && e?.description.contains("type 2") == true)
    }

    @Test func q8RowNotMultipleOf32() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_q80", in: b).dims, UInt64(48))
        expectCase(loadError(b, in: dir), "blockMisfit") {
            if case .blockMisfit(_, "tensor_q80", .q8_0, 48) = $0 { return true }; return false
        }
    }

    @Test func duplicateTensorName() {
        var b = sampleBytes()
        patch(&b, at: byteOffset(of: "tensor_f16", in: b), Array("tensor_f32".utf8))
        expectCase(loadError(b, in: dir), "duplicateTensor") {
            if case .duplicateTensor(_, "tensor_f32") = $0 { return true }; return false
        }
    }

    @Test func offsetMisaligned() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).dataOffset, UInt64(36))
        expectCase(loadError(b, in: dir), "offsetMisaligned") {
            if case .offsetMisaligned(_, "tensor_f16", 36, 32) = $0 { return true }; return false
        }
    }

    @Test func offsetOutOfRange() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).dataOffset, UInt64(1) << 40)
        expectCase(loadError(b, in: dir), "offsetOutOfRange") {
            if case .offsetOutOfRange(_, "tensor_f16", 1 << 40, _) = $0 { return true }; return false
        }
        b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).dataOffset, UInt64.max - 31)  // aligned, would overflow
        expectCase(loadError(b, in: dir), "offsetOutOfRange near UInt64.max") {
            if case .offsetOutOfRange(_, "tensor_f16", _, _) = $0 { return true }; return false
        }
    }

    @Test func truncatedData() {
        let b = sampleBytes()
        let e = loadError(Array(b[..<(b.count - 40)]), in: dir)  // the Q8_0 tensor (136 bytes) is last
        expectCase(e, "truncatedData") {
            if case .truncatedData(_, "tensor_q80", _, _) = $0 { return true }; return false
        }
        #expect(e?.description.contains("truncated data") == true)
    }

    @Test func overlappingTensors() {
        var b = sampleBytes()
        patch(&b, at: InfoFields("tensor_f16", in: b).dataOffset, UInt64(0))
        expectCase(loadError(b, in: dir), "overlappingTensors") {
            if case .overlappingTensors = $0 { return true }; return false
        }
    }

    @Test func missingFileAndDirectory() {
        expectCase(loadError(path: dir.file("absent.gguf")), "openFailed") {
            if case .openFailed(_, ENOENT) = $0 { return true }; return false
        }
        expectCase(loadError(path: dir.path), "notRegularFile") {
            if case .notRegularFile = $0 { return true }; return false
        }
    }
}
