// Interoperability with the reference GGUF implementation (gguf-py, from llama.cpp):
// (a) files from GGUFWriter are read by gguf-py's reader and gguf-dump with identical values;
// (b) files from gguf-py's GGUFWriter (Q8_0 from gguf.quants.quantize) are read by GGUFFile.

import ClipgenFile
import Foundation
import Testing

private let readWithGGUFPy = pythonPrelude + "\n" + #"""
from gguf.quants import dequantize
r = gguf.GGUFReader(sys.argv[1])
kv = {}
for name, f in r.fields.items():
    if name.startswith("GGUF."): continue
    t = f.types[0]
    if t == T.ARRAY:
        kv[name] = canonical(t, f.contents(), T(int(f.parts[3][0])))
    else:
        kv[name] = canonical(t, f.contents())
tensors = {}
for t in r.tensors:
    raw = t.data.tobytes()
    deq = dequantize(np.frombuffer(raw, dtype=np.uint8), t.tensor_type) if t.tensor_type == Q.Q8_0 else None
    tensors[t.name] = {"type": int(t.tensor_type), "shape": [int(d) for d in t.shape], "hex": raw.hex(),
                       "deq": deq.astype(np.float32).tobytes().hex() if deq is not None else ""}
print(json.dumps({"kv": kv, "tensors": tensors, "alignment": r.alignment}))
"""#

private let writeWithGGUFPy = pythonPrelude + "\n" + #"""
from gguf.quants import quantize, dequantize
path, alignment = sys.argv[1], int(sys.argv[2])
w = gguf.GGUFWriter(path, "clipgen")
if alignment != 32: w.add_custom_alignment(alignment)
expected = {"general.architecture": canonical(T.STRING, "clipgen")}
if alignment != 32: expected["general.alignment"] = canonical(T.UINT32, alignment)
scalars = [(T.UINT8, 200), (T.INT8, -100), (T.UINT16, 60000), (T.INT16, -30000), (T.UINT32, 3000000000),
           (T.INT32, -7), (T.FLOAT32, 0.1), (T.BOOL, True), (T.STRING, "ünïcode ✓ 🙂"),
           (T.UINT64, 2**64 - 1), (T.INT64, -2**63), (T.FLOAT64, 0.1)]
for t, v in scalars:
    key = "py." + NAMES[t]
    w.add_key_value(key, v, t)
    expected[key] = canonical(t, v)
    arr = [v, v, v] if t in (T.BOOL, T.STRING) else [v, 0, v]
    if t == T.BOOL: arr = [True, False, True]
    if t == T.STRING: arr = ["Ġthe</w>", "a b", "ü"]
    w.add_key_value(key + ".array", arr, T.ARRAY, sub_type=t)
    expected[key + ".array"] = canonical(T.ARRAY, arr, t)

rng = np.random.default_rng(1234)
f32 = rng.standard_normal((3, 5)).astype(np.float32)
f16 = rng.standard_normal((2, 4)).astype(np.float16)
x = (rng.standard_normal((4, 96)) * 3).astype(np.float32)
x[0, :32] = 0                                   # an all-zero block
x[1, :32] = np.arange(32, dtype=np.float32) - 15.5  # amax 127 gives d = 1: exact ties at .5
x[1, 0] = 127
x[2, :32] *= 1e4                                # big magnitudes
x[3, :32] *= 1e-6                               # tiny values
q8 = quantize(x, Q.Q8_0)
w.add_tensor("t.f32", f32)
w.add_tensor("t.f16", f16)
w.add_tensor("t.q8", q8, raw_dtype=Q.Q8_0)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
def info(a, qtype, logical_shape, deq=None):
    return {"type": int(qtype), "shape": list(reversed(logical_shape)), "hex": a.tobytes().hex(),
            "deq": deq.astype(np.float32).tobytes().hex() if deq is not None else ""}
tensors = {"t.f32": info(f32, Q.F32, f32.shape), "t.f16": info(f16, Q.F16, f16.shape),
           "t.q8": info(q8, Q.Q8_0, x.shape, dequantize(q8, Q.Q8_0))}
print(json.dumps({"kv": expected, "tensors": tensors, "alignment": alignment}))
"""#

/// What a script reports about a file.
private struct Report: Decodable {
    struct Tensor: Decodable { let type: UInt32; let shape: [Int]; let hex: String; let deq: String }
    let kv: [String: String]
    let tensors: [String: Tensor]
    let alignment: Int
}

/// Dequantises a Q8_0 tensor the way ggml does: d (fp16 -> f32) times each int8.
private func dequantizeQ8(_ t: GGUFTensor) -> [Float] {
    var out: [Float] = []
    for r in 0..<t.rowCount {
        let row = t.q8_0Row(r)
        for b in 0..<t.q8_0BlocksPerRow {
            let d = Float(Float16(bitPattern: UInt16(row[b * 34]) | UInt16(row[b * 34 + 1]) << 8))
            for i in 0..<32 { out.append(d * Float(Int8(bitPattern: row[b * 34 + 2 + i]))) }
        }
    }
    return out
}

/// Compares every metadata value and tensor of `file` against a gguf-py report.
private func expectAgreement(_ file: GGUFFile, _ report: Report) throws {
    #expect(Set(file.metadataKeys) == Set(report.kv.keys))
    for (key, expected) in report.kv {
        #expect(canonical(try file.value(key)) == expected, "\(key)")
    }
    #expect(file.alignment == report.alignment)
    #expect(Set(file.tensorNames) == Set(report.tensors.keys))
    for (name, expected) in report.tensors {
        let t = try file.tensor(name)
        #expect(t.type.rawValue == expected.type && Array(t.shape) == expected.shape, "\(name)")
        #expect(hexString(t.bytes) == expected.hex, "\(name) bytes")
        if t.type == .q8_0 {
            #expect(dequantizeQ8(t).withUnsafeBytes(hexString) == expected.deq, "\(name) dequantised")
        }
    }
    #expect(file.unusedTensorNames.isEmpty)
}

@Suite(.enabled(if: ReferencePython.testsEnabled, ReferencePython.skipMessage))
struct InteropTests {
    let dir = ScratchDirectory()

    /// A Swift-written file with every metadata type and F32, F16 and Q8_0 tensors.
    func swiftFile() throws -> String {
        var w = GGUFWriter()
        w.add("general.architecture", .string("clipgen"))
        w.add("clipgen.format_version", .uint32(1))
        for (k, v) in allKindsOfMetadata where k != "a.empty" { w.add(k, v) }
        w.addTensor("w.f32", shape: [5, 3], f32: (0..<15).map { Float($0) * 0.25 - 1 })
        w.addTensor("w.f16", shape: [7], f16Bits: (0..<7).map { Float16(Float($0) - 3.5).bitPattern })
        w.addTensor("w.q8", type: .q8_0, shape: [64, 3], bytes: sampleQ8(rowLength: 64, rows: 3))
        let path = dir.file("swift.gguf")
        try w.write(to: path)
        return path
    }

    @Test func ggufPyReadsSwiftFile() throws {
        let path = try swiftFile()
        let json = try ReferencePython.script(readWithGGUFPy, [path], in: dir)
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        #expect(report.tensors["w.q8"]?.shape == [64, 3])
        try expectAgreement(try GGUFFile(path: path), report)
    }

    @Test func ggufDumpListsSwiftFile() throws {
        let path = try swiftFile()
        let python = try ReferencePython.require()
        let sibling = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("gguf-dump").path
        let r = FileManager.default.isExecutableFile(atPath: sibling)
            ? try ReferencePython.run(sibling, [path])
            : try ReferencePython.run(python, ["-m", "gguf.scripts.gguf_dump", path])
        #expect(r.status == 0, "gguf-dump failed: \(r.stderr)")
        for name in ["w.f32", "w.f16", "w.q8", "clipgen.format_version", "a.string"] {
            #expect(r.stdout.contains(name), "gguf-dump output lists \(name)")
        }
        #expect(r.stdout.contains("Q8_0") && r.stdout.contains("F16") && r.stdout.contains("F32"))
    }

    @Test(arguments: [32, 64])
    func readsGGUFPyFile(alignment: Int) throws {
        let path = dir.file("py-\(alignment).gguf")
        let json = try ReferencePython.script(writeWithGGUFPy, [path, "\(alignment)"], in: dir)
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        let file = try GGUFFile(path: path)
        try expectAgreement(file, report)
        #expect(try file.tensor("t.q8", type: .q8_0, shape: [96, 4]).rowCount == 4)
        #expect(try file.tensor("t.f32", type: .f32, shape: [5, 3]).f32Row(2).count == 5)
    }
}
