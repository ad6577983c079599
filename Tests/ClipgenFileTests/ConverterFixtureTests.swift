// The converter (converter/clipgen_convert, run from this checkout through CLIPGEN_PYTHON) writes a model file; the
// runtime reads it back: every Q8_0 row through dequantizeRowQ8_0 gives exactly the floats gguf-py's dequantiser
// gives, every byte is the one gguf-py's quantiser produced, and every metadata value arrives with its type.

import ClipgenFile
import ClipgenKernels
import Foundation
import Testing

/// The converter's source folder in this checkout, so the test always runs the converter next to it (needs only
/// numpy and gguf in CLIPGEN_PYTHON, not an installed copy).
private let converterDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("converter").path

/// Writes a fixture with the converter's writer; prints per tensor its type, ggml shape, raw bytes, gguf-py's
/// quantisation of the original (Q8_0) and gguf-py's dequantisation, and every metadata value in canonical form.
private let convertFixture = pythonPrelude + "\n" + #"""
sys.path.insert(0, sys.argv[2])
from gguf.quants import quantize, dequantize
from clipgen_convert.component import Component
from clipgen_convert.provenance import provenance_kv
from clipgen_convert.writer import write_model

rng = np.random.default_rng(11)
linear = (rng.standard_normal((48, 96)) * 0.02).astype(np.float32)   # [out 48, in 96]
linear[0, :32] = 0                                                    # all-zero block
linear[1, 0] = 127 / 8                                                # d = 1/8 exactly ...
linear[1, 1:32] = (np.arange(31) - 14.5) / 8                          # ... products on .5 ties
linear[2, :32] *= 1e-30                                               # subnormal fp16 scale
linear[3, :32] = np.linspace(-3e4, 3e4, 32)                           # large magnitudes
conv = rng.standard_normal((8, 3, 3, 32)).astype(np.float32)          # [out, kh, kw, in]
tensors = {"head.weight": linear, "conv.weight": conv,
           "head.bias": rng.standard_normal(48).astype(np.float32),   # [48] stays F32
           "rgb.weight": rng.standard_normal((16, 3)).astype(np.float32)}  # rows of 3: F32
source = sys.argv[1] + ".source"
open(source, "wb").write(b"fixture checkpoint")
meta = {"vocab_size": 16384, "grid": [16, 16], "norm_eps": 1e-5, "activation": "gelu", "bias": True,
        "offset": -1, "pixel_mean": [0.48145466, 0.4578275, 0.40821073]}
c = Component("gpt", tensors, meta, source,
              extra_kv={"tokenizer.ggml.merges": (["Ġ t", "h e</w>"], T.ARRAY, T.STRING)})
write_model([c], sys.argv[1], "q8_0", provenance_kv({"gpt": source}))

r = gguf.GGUFReader(sys.argv[1])
kv = {}
for name, f in r.fields.items():
    if name.startswith("GGUF."): continue
    t = f.types[0]
    kv[name] = canonical(t, f.contents(), f.types[-1] if t == T.ARRAY else None)
out = {}
for t in r.tensors:
    raw = t.data.tobytes()
    original = tensors[t.name.split(".", 1)[1]]
    q8 = t.tensor_type == Q.Q8_0
    deq = dequantize(np.frombuffer(raw, dtype=np.uint8), Q.Q8_0) if q8 else np.frombuffer(raw, np.float32)
    out[t.name] = {"type": int(t.tensor_type), "shape": [int(d) for d in t.shape], "hex": raw.hex(),
                   "reference": quantize(original, Q.Q8_0).tobytes().hex() if q8 else original.tobytes().hex(),
                   "deq": deq.astype(np.float32).tobytes().hex()}
print(json.dumps({"kv": kv, "tensors": out}))
"""#

private struct ConvertedReport: Decodable {
    struct Tensor: Decodable { let type: UInt32; let shape: [Int]; let hex: String; let reference: String; let deq: String }
    let kv: [String: String]
    let tensors: [String: Tensor]
}

@Suite(.enabled(if: ReferencePython.testsEnabled, ReferencePython.skipMessage))
struct ConverterFixtureTests {
    let dir = ScratchDirectory()

    @Test func converterFileReadsBackBitForBit() throws {
        let path = dir.file("converted.gguf")
        let json = try ReferencePython.script(convertFixture, [path, converterDirectory], in: dir)
        let report = try JSONDecoder().decode(ConvertedReport.self, from: Data(json.utf8))
        let file = try GGUFFile(path: path)

        #expect(try file.string("general.architecture") == "clipgen")
        #expect(try file.uint32("clipgen.format_version") == 1)
        #expect(try file.string("clipgen.quant") == "q8_0")
        #expect(try file.stringArray("clipgen.components").map(\.string) == ["gpt"])
        #expect(try file.uint32("clipgen.gpt.vocab_size") == 16384)
        #expect(try file.array("clipgen.gpt.grid", of: UInt32.self).map { $0 } == [16, 16])
        #expect(try file.float32("clipgen.gpt.norm_eps") == Float(1e-5))
        #expect(try file.int32("clipgen.gpt.offset") == -1)
        #expect(try file.bool("clipgen.gpt.bias"))
        #expect(try file.string("clipgen.source.gpt.file") == "converted.gguf.source")
        #expect(Set(file.metadataKeys) == Set(report.kv.keys))
        for (key, expected) in report.kv {
            #expect(canonical(try file.value(key)) == expected, "\(key)")
        }

        let expectedTypes: [String: (GGMLType, GGUFShape)] = [
            "gpt.head.weight": (.q8_0, [96, 48]), "gpt.conv.weight": (.q8_0, [32, 3, 3, 8]),
            "gpt.head.bias": (.f32, [48]), "gpt.rgb.weight": (.f32, [3, 16]),
        ]
        #expect(Set(report.tensors.keys) == Set(expectedTypes.keys))
        for (name, (type, shape)) in expectedTypes {
            let t = try file.tensor(name, type: type, shape: shape)
            let expected = try #require(report.tensors[name])
            #expect(hexString(t.bytes) == expected.hex, "\(name): bytes as gguf-py reads them")
            #expect(hexString(t.bytes) == expected.reference, "\(name): bytes of gguf-py's quantiser / the original")
            var values = [Float](repeating: .nan, count: t.elementCount)
            values.withUnsafeMutableBufferPointer { out in
                for row in 0..<t.rowCount {
                    let dst = out.baseAddress! + row * t.rowLength
                    if type == .q8_0 {
                        dequantizeRowQ8_0(t.rowPointer(row), count: t.rowLength, into: dst)
                    } else {
                        for (i, v) in t.f32Row(row).enumerated() { dst[i] = v }
                    }
                }
            }
            #expect(values.withUnsafeBytes(hexString) == expected.deq, "\(name): dequantised values")
        }
        #expect(file.unusedTensorNames.isEmpty)
    }
}
