// Write with GGUFWriter, read with GGUFFile: every metadata type, every tensor type, the typed
// getters' errors, zero-copy views, checked tensor lookups and unused-tensor reporting.

import ClipgenFile
import Foundation
import Testing

/// One value of every metadata type, arrays of each, and edge cases (empty, Unicode, extremes).
let allKindsOfMetadata: [(String, GGUFMetadataValue)] = [
    ("t.u8", .uint8(255)), ("t.i8", .int8(-128)), ("t.u16", .uint16(65535)), ("t.i16", .int16(-32768)),
    ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)), ("t.f32", .float32(-1.5e-7)),
    ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)), ("t.string", .string("héllo wörld ✓ 🙂")),
    ("t.string.empty", .string("")), ("t.u64", .uint64(.max)), ("t.i64", .int64(.min)),
    ("t.f64", .float64(-2.2250738585072014e-308)), ("t.f32.inf", .float32(.infinity)), ("t.f32.negzero", .float32(-0.0)),
    ("a.u8", .array([UInt8(0), 1, 255])), ("a.i8", .array([Int8(-128), 0, 127])),
    ("a.u16", .array([UInt16(0), 65535])), ("a.i16", .array([Int16(-32768), 32767])),
    ("a.u32", .array([UInt32(1), 2, 3, .max])), ("a.i32", .array([Int32.min, -1, 0, .max])),
    ("a.f32", .array([Float(0.5), -3.25, .greatestFiniteMagnitude])), ("a.bool", .array([true, false, true])),
    ("a.u64", .array([UInt64.max, 0])), ("a.i64", .array([Int64.min, 42])), ("a.f64", .array([Double.pi, -0.0])),
    ("a.string", .stringArray(["a b", "", "ü", "Ġthe</w>"])), ("a.empty", .array(.uint32, [])),
]

@Suite struct RoundTripTests {
    let dir = ScratchDirectory()

    @Test func everyMetadataType() throws {
        var w = GGUFWriter()
        for (k, v) in allKindsOfMetadata { w.add(k, v) }
        let path = dir.file("kv.gguf")
        try w.write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.metadataKeys == allKindsOfMetadata.map(\.0))
        for (k, v) in allKindsOfMetadata {
            #expect(try file.value(k) == v, "\(k)")
        }
        #expect(try file.uint8("t.u8") == 255)
        #expect(try file.int8("t.i8") == -128)
        #expect(try file.uint16("t.u16") == 65535)
        #expect(try file.int16("t.i16") == -32768)
        #expect(try file.uint32("t.u32") == 4_000_000_000)
        #expect(try file.int32("t.i32") == -2_000_000_000)
        #expect(try file.float32("t.f32") == -1.5e-7)
        #expect(try file.bool("t.bool.true") && !(try file.bool("t.bool.false")))
        #expect(try file.string("t.string") == "héllo wörld ✓ 🙂")
        #expect(try file.uint64("t.u64") == .max)
        #expect(try file.int64("t.i64") == .min)
        #expect(try file.float64("t.f64") == -2.2250738585072014e-308)
        #expect(try file.float32("t.f32.negzero").sign == .minus)
        #expect(Array(try file.array("a.i32", of: Int32.self)) == [Int32.min, -1, 0, .max])
        #expect(Array(try file.array("a.f64", of: Double.self)) == [Double.pi, -0.0])
        #expect(try file.array("a.empty", of: UInt32.self).isEmpty)
        #expect(try file.stringArray("a.string").strings() == ["a b", "", "ü", "Ġthe</w>"])
        #expect(try file.stringView("t.string").equals("héllo wörld ✓ 🙂"))
        #expect(try file.integer("t.u32") == 4_000_000_000 && file.integer("t.i8") == -128)
        #expect(file.valueType(of: "a.u8") == .array && file.valueType(of: "nope") == nil)
        #expect(file.tensorCount == 0 && file.contains("t.u8") && !file.contains("t.u9"))
    }

    @Test func getterErrorsNameKeyAndTypes() throws {
        let path = dir.write(sampleBytes())
        let file = try GGUFFile(path: path)
        let mismatch = #expect(throws: GGUFError.self) { try file.float32("clipgen.key_a") }
        #expect(mismatch == .typeMismatch(path: path, key: "clipgen.key_a", expected: "float32", actual: "uint32"))
        #expect(mismatch?.description.contains("clipgen.key_a") == true)
        let arrayMismatch = #expect(throws: GGUFError.self) { try file.stringArray("clipgen.list") }
        #expect(arrayMismatch == .typeMismatch(path: path, key: "clipgen.list", expected: "array[string]",
                                               actual: "array[int32]"))
        let missing = #expect(throws: GGUFError.self) { try file.uint32("clipgen.n_layers") }
        #expect(missing == .missingKey(path: path, key: "clipgen.n_layers"))
        #expect(missing?.description == "\(path): missing metadata key 'clipgen.n_layers'")
        #expect(throws: GGUFError.self) { try file.integer("clipgen.text") }
    }

    @Test func tensorsOfEveryType() throws {
        let path = dir.write(sampleBytes())
        let file = try GGUFFile(path: path)
        let f32 = try file.tensor("tensor_f32", type: .f32, shape: [4, 2])
        #expect(Array(f32.f32) == (0..<8).map(Float.init))
        #expect(Array(f32.f32Row(1)) == [4, 5, 6, 7] && f32.rowCount == 2 && f32.rowLength == 4)
        let f16 = try file.tensor("tensor_f16", type: .f16, shape: [8])
        #expect(f16.f16Bits.map { Float(Float16(bitPattern: $0)) } == (0..<8).map { Float($0) / 2 })
        let q8 = try file.tensor("tensor_q80", type: .q8_0, shape: [64, 2])
        #expect(q8.byteCount == 136 && q8.rowByteCount == 68 && q8.q8_0BlocksPerRow == 2)
        #expect(Array(q8.q8_0Row(1)) == Array(sampleQ8(rowLength: 64, rows: 2)[68...]))
        for t in [f32, f16, q8] {
            #expect(t.fileOffset % 32 == 0 && (t.fileOffset - file.dataOffset) % 32 == 0)
        }
        #expect(file.dataOffset % 32 == 0)
    }

    @Test func viewsAreZeroCopy() throws {
        let file = try GGUFFile(path: dir.write(sampleBytes()))
        let mapped = file.mappedBytes
        for name in file.tensorNames {
            let t = try file.tensor(name)
            #expect(t.baseAddress >= mapped.baseAddress! && t.baseAddress + t.byteCount <= mapped.baseAddress! + mapped.count)
            #expect(t.baseAddress == mapped.baseAddress! + t.fileOffset)
        }
        let words = try file.stringArray("clipgen.words").map(\.bytes.baseAddress!)
        #expect(words.allSatisfy { $0 >= mapped.baseAddress! && $0 < mapped.baseAddress! + mapped.count })
    }

    @Test func viewOutlivesFile() throws {
        var file: GGUFFile? = try GGUFFile(path: dir.write(sampleBytes()))
        let t = try file!.tensor("tensor_f32")
        file = nil
        #expect(t.f32[7] == 7)  // the view holds the mapping
    }

    @Test func checkedLookupErrors() throws {
        let path = dir.write(sampleBytes())
        let file = try GGUFFile(path: path)
        let wrongType = #expect(throws: GGUFError.self) { try file.tensor("tensor_q80", type: .f32, shape: [64, 2]) }
        #expect(wrongType == .tensorTypeMismatch(path: path, tensor: "tensor_q80", expected: .f32, actual: .q8_0))
        let wrongShape = #expect(throws: GGUFError.self) { try file.tensor("tensor_q80", type: .q8_0, shape: [2, 64]) }
        #expect(wrongShape == .tensorShapeMismatch(path: path, tensor: "tensor_q80", expected: [2, 64], actual: [64, 2]))
        #expect(wrongShape?.description.contains("tensor 'tensor_q80' has shape [64, 2], expected [2, 64]") == true)
        let missing = #expect(throws: GGUFError.self) { try file.tensor("head.weight") }
        #expect(missing == .missingTensor(path: path, name: "head.weight"))
    }

    @Test func unusedTensorNames() throws {
        let file = try GGUFFile(path: dir.write(sampleBytes()))
        #expect(file.unusedTensorNames == ["tensor_f32", "tensor_f16", "tensor_q80"])
        _ = file.tensors  // inspection does not count as use
        _ = try file.tensor("tensor_f16")
        #expect(file.unusedTensorNames == ["tensor_f32", "tensor_q80"])
    }

    @Test(arguments: [4, 64, 4096])
    func customAlignment(_ alignment: Int) throws {
        let path = dir.file("aligned.gguf")
        try sampleWriter(alignment: alignment).write(to: path)
        let file = try GGUFFile(path: path)
        #expect(file.alignment == alignment && file.dataOffset % alignment == 0)
        #expect(try file.uint32("general.alignment") == UInt32(alignment))
        for t in file.tensors { #expect((t.fileOffset - file.dataOffset) % alignment == 0) }
        #expect(Array(try file.tensor("tensor_f32").f32) == (0..<8).map(Float.init))
    }

    @Test func encodedEqualsWrittenFile() throws {
        let path = dir.file("same.gguf")
        try sampleWriter().write(to: path)
        #expect(Array(FileManager.default.contents(atPath: path)!) == sampleBytes())
    }
}
