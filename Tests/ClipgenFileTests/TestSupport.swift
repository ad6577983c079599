// Helpers shared by the ClipgenFile tests: scratch directories, a small valid model file, byte
// patching to make malformed variants, and expectations on the thrown error.

import ClipgenFile
import Foundation
import Testing

/// A fresh directory under the system temporary directory, removed when released.
final class ScratchDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "clipgen-file-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to `name` and returns its path.
    func write(_ bytes: [UInt8], to name: String = "model.gguf") -> String {
        let p = file(name)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "cannot create \(p)")
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count && close(fd) == 0, "cannot write \(p)")
        return p
    }

    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}

/// One hand-built Q8_0 block: scale d (as fp16 bits) then 32 int8 quants.
func q8Block(d: Float16, _ q: [Int8]) -> [UInt8] {
    precondition(q.count == 32)
    let bits = d.bitPattern
    return [UInt8(bits & 0xFF), UInt8(bits >> 8)] + q.map { UInt8(bitPattern: $0) }
}

/// Q8_0 data for `rows` rows of `rowLength` values; block k of row r has d = (r + 1) / 8 and q[i] = i - k - r.
func sampleQ8(rowLength: Int, rows: Int) -> [UInt8] {
    var out: [UInt8] = []
    for r in 0..<rows {
        for k in 0..<rowLength / 32 {
            out += q8Block(d: Float16(Float(r + 1) / 8), (0..<32).map { Int8($0 - k - r) })
        }
    }
    return out
}

/// The sample file used by the malformed-file tests: three tensors of each type and a few keys.
func sampleWriter(alignment: Int = 32) -> GGUFWriter {
    var w = GGUFWriter(alignment: alignment)
    w.add("general.architecture", .string("clipgen"))
    w.add("clipgen.format_version", .uint32(1))
    w.add("clipgen.key_a", .uint32(7))
    w.add("clipgen.key_b", .uint32(8))
    w.add("clipgen.text", .string("hello"))
    w.add("clipgen.list", .array([Int32(1), 2, 3]))
    w.add("clipgen.words", .stringArray(["ab", "cd"]))
    w.addTensor("tensor_f32", shape: [4, 2], f32: (0..<8).map(Float.init))
    w.addTensor("tensor_f16", shape: [8], f16Bits: (0..<8).map { Float16(Float($0) / 2).bitPattern })
    w.addTensor("tensor_q80", type: .q8_0, shape: [64, 2], bytes: sampleQ8(rowLength: 64, rows: 2))
    return w
}

func sampleBytes() -> [UInt8] { try! sampleWriter().encoded() }

/// Offset of the first occurrence of `needle` (UTF-8) in `bytes`.
func byteOffset(of needle: String, in bytes: [UInt8]) -> Int {
    let n = Array(needle.utf8)
    for i in 0...(bytes.count - n.count) where bytes[i] == n[0] && Array(bytes[i..<i + n.count]) == n {
        return i
    }
    preconditionFailure("'\(needle)' not found")
}

/// Offset just after the (unique) string `needle`, i.e. of the field that follows a key or tensor name.
func byteOffset(after needle: String, in bytes: [UInt8]) -> Int { byteOffset(of: needle, in: bytes) + needle.utf8.count }

/// Overwrites bytes at `at` with the little-endian encoding of `value`.
func patch<T: FixedWidthInteger>(_ bytes: inout [UInt8], at: Int, _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
}

/// Overwrites bytes at `at` with `replacement`.
func patch(_ bytes: inout [UInt8], at: Int, _ replacement: [UInt8]) {
    bytes.replaceSubrange(at..<at + replacement.count, with: replacement)
}

/// Tensor-info field offsets for `name` in `bytes` (n_dims, dims[0], type, offset).
struct InfoFields {
    let nDims: Int, dims: Int, type: Int, dataOffset: Int
    init(_ name: String, in bytes: [UInt8]) {
        nDims = byteOffset(after: name, in: bytes)
        let rank = Int(bytes[nDims])
        dims = nDims + 4
        type = dims + 8 * rank
        dataOffset = type + 4
    }
}

/// Loads `bytes` from a file and returns the GGUFError thrown (recording an issue if none or another).
func loadError(_ bytes: [UInt8], in dir: ScratchDirectory, sourceLocation: SourceLocation = #_sourceLocation) -> GGUFError? {
    let path = dir.write(bytes)
    return loadError(path: path, sourceLocation: sourceLocation)
}

func loadError(path: String, sourceLocation: SourceLocation = #_sourceLocation) -> GGUFError? {
    do {
        _ = try GGUFFile(path: path)
        Issue.record("expected \(path) to be rejected", sourceLocation: sourceLocation)
        return nil
    } catch let error as GGUFError {
        #expect(error.description.contains(path), "description names the file: \(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Records an issue unless `error` matches `pattern` (given as a closure with `if case`).
func expectCase(_ error: GGUFError?, _ name: String, sourceLocation: SourceLocation = #_sourceLocation,
                _ matches: (GGUFError) -> Bool) {
    guard let error else { return }
    #expect(matches(error), "expected \(name), got \(error)", sourceLocation: sourceLocation)
}
