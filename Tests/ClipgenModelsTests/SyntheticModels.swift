// Small random models written as GGUF files by the tests themselves, in the tensor names and metadata that the
// converter writes (docs/model-gpt.md), to test the Swift models' invariants without Python. Parity with PyTorch
// is tested separately on converter-made files.
import ClipgenFile
import ClipgenKernels
import Foundation

/// Deterministic floats in [-scale, scale] (SplitMix64).
struct SeededFloats {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }
    mutating func array(_ count: Int, scale: Float) -> [Float] { (0..<count).map { _ in next() * scale } }
}

/// A scratch directory removed when the value is released.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "clipgen-models-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// How the synthetic writer stores matrices.
enum MatrixType { case q8_0, f32 }

/// A random GPT in the converter's layout. Linear weights are PyTorch [out, in] = ggml [in, out].
struct SyntheticGPT {
    var layers = 2, dModel = 64, heads = 2, dFF = 128, vocab = 96, condDim = 32, grid = (3, 4)
    var positions: Int { grid.0 * grid.1 }

    func write(to path: String, matrices: MatrixType, seed: UInt64 = 1) throws {
        var random = SeededFloats(state: seed)
        var w = GGUFWriter()
        w.add("general.architecture", .string("clipgen"))
        w.add("clipgen.format_version", .uint32(1))
        w.add("clipgen.components", .array(.string, [.string("gpt")]))
        for (key, value) in [("layers", layers), ("d_model", dModel), ("heads", heads), ("d_ff", dFF),
                             ("vocab_size", vocab), ("cond_dim", condDim), ("n_positions", positions)] {
            w.add("clipgen.gpt.\(key)", .uint32(UInt32(value)))
        }
        w.add("clipgen.gpt.grid", .array(.uint32, [.uint32(UInt32(grid.0)), .uint32(UInt32(grid.1))]))
        w.add("clipgen.gpt.norm_eps", .float32(1e-5))
        w.add("clipgen.gpt.activation", .string("gelu"))
        w.add("clipgen.gpt.norm_first", .bool(true))
        w.add("clipgen.gpt.condition_norm", .string("l2"))

        func matrix(_ name: String, out: Int, in inFeatures: Int, scale: Float) {
            let values = random.array(out * inFeatures, scale: scale)           // [out, in]
            switch matrices {
            case .f32: w.addTensor(name, shape: [inFeatures, out], f32: values)
            case .q8_0:
                var bytes = [UInt8](repeating: 0, count: out * Q8_0.rowBytes(columns: inFeatures))
                values.withUnsafeBufferPointer { v in
                    bytes.withUnsafeMutableBytes { quantizeRowQ8_0Reference(v.baseAddress!, count: v.count, into: $0.baseAddress!) }
                }
                w.addTensor(name, type: .q8_0, shape: [inFeatures, out], bytes: bytes)
            }
        }
        func vector(_ name: String, _ count: Int, around center: Float, scale: Float) {
            w.addTensor(name, shape: [count], f32: random.array(count, scale: scale).map { $0 + center })
        }
        let d = dModel
        matrix("gpt.tok_emb.weight", out: vocab, in: d, scale: 1)
        w.addTensor("gpt.pos_emb", shape: [d, positions], f32: random.array(positions * d, scale: 0.5))
        matrix("gpt.cond_proj.weight", out: d, in: condDim, scale: 1)
        vector("gpt.cond_proj.bias", d, around: 0, scale: 0.1)
        for n in 0..<layers {
            let p = "gpt.blocks.\(n)."
            vector(p + "norm1.weight", d, around: 1, scale: 0.2)
            vector(p + "norm1.bias", d, around: 0, scale: 0.1)
            matrix(p + "attn.qkv.weight", out: 3 * d, in: d, scale: 0.3)
            vector(p + "attn.qkv.bias", 3 * d, around: 0, scale: 0.1)
            matrix(p + "attn.out.weight", out: d, in: d, scale: 0.2)
            vector(p + "attn.out.bias", d, around: 0, scale: 0.1)
            vector(p + "norm2.weight", d, around: 1, scale: 0.2)
            vector(p + "norm2.bias", d, around: 0, scale: 0.1)
            matrix(p + "mlp.fc.weight", out: dFF, in: d, scale: 0.2)
            vector(p + "mlp.fc.bias", dFF, around: 0, scale: 0.1)
            matrix(p + "mlp.proj.weight", out: d, in: dFF, scale: 0.15)
            vector(p + "mlp.proj.bias", d, around: 0, scale: 0.1)
        }
        vector("gpt.norm.weight", d, around: 1, scale: 0.2)
        vector("gpt.norm.bias", d, around: 0, scale: 0.1)
        matrix("gpt.head.weight", out: vocab, in: d, scale: 0.3)
        vector("gpt.head.bias", vocab, around: 0, scale: 0.1)
        try w.write(to: path)
    }
}
