// The pre-LN transformer block shared by the CLIP towers and the CLIP-GEN transformer:
//   h = x + attn.out(self_attention(attn.qkv(norm1(x))));  x = h + mlp.proj(act(mlp.fc(norm2(h))))
// over several sequences at once (rows candidate-major), each with its own KV cache.

import ClipgenKernels
import ClipgenThreads

/// The MLP activation of a block.
public enum BlockActivation: String, Sendable {
    /// Exact GELU, x * Phi(x) (erf): the CLIP-GEN transformer, open_clip's default.
    case gelu
    /// x * sigmoid(1.702 x): OpenAI's CLIP weights.
    case quickGelu = "quick_gelu"
}

/// One pre-LN block's weights.
final class TransformerBlock {
    let width, mlpWidth, heads: Int
    let eps: Float
    let activation: BlockActivation
    let norm1Weight, norm1Bias: UnsafePointer<Float>        // [width]
    let qkv: Linear                                         // [3 width, width]: q | k | v
    let out: Linear                                         // [width, width]
    let norm2Weight, norm2Bias: UnsafePointer<Float>        // [width]
    let fc: Linear                                          // [mlpWidth, width]
    let proj: Linear                                        // [width, mlpWidth]

    /// Loads `<prefix><norm1>`, `<prefix>attn.qkv`, `<prefix>attn.out`, `<prefix><norm2>`, `<prefix>mlp.fc`,
    /// `<prefix>mlp.proj` (norm names differ: `norm1`/`norm2` in the GPT, `ln_1`/`ln_2` in CLIP).
    init(_ r: ComponentReader, prefix p: String, norms: (String, String), width: Int, mlpWidth: Int, heads: Int,
         eps: Float, activation: BlockActivation) throws {
        (self.width, self.mlpWidth, self.heads, self.eps, self.activation) = (width, mlpWidth, heads, eps, activation)
        norm1Weight = try r.vector(p + norms.0 + ".weight", count: width)
        norm1Bias = try r.vector(p + norms.0 + ".bias", count: width)
        qkv = try Linear(r, p + "attn.qkv", in: width, out: 3 * width)
        out = try Linear(r, p + "attn.out", in: width, out: width)
        norm2Weight = try r.vector(p + norms.1 + ".weight", count: width)
        norm2Bias = try r.vector(p + norms.1 + ".bias", count: width)
        fc = try Linear(r, p + "mlp.fc", in: width, out: mlpWidth)
        proj = try Linear(r, p + "mlp.proj", in: mlpWidth, out: width)
    }

    /// Runs the block in place on `s.x` = `[sequences * tokens, width]` (sequence-major): the new positions of
    /// every sequence are appended to its cache and attend to everything cached (causally or not).
    func callAsFunction(_ s: BlockScratch, tokens t: Int, caches: [AttentionCache], causal: Bool, pool: ThreadPool) {
        let d = width, rows = caches.count * t
        layerNorm(s.x, into: s.h, gamma: norm1Weight, beta: norm1Bias, columns: d, rows: 0..<rows, eps: eps)
        qkv(s.h, batch: rows, into: s.qkv, pool: pool)                           // [rows, 3d]
        for (j, cache) in caches.enumerated() {
            let first = s.qkv + j * t * 3 * d
            cache.append(keys: first + d, keyStride: 3 * d, values: first + 2 * d, valueStride: 3 * d, tokens: t)
        }
        let heads = self.heads
        pool.parallelFor(caches.count * heads) { task in
            let j = task / heads, head = task % heads
            caches[j].attend(queries: s.qkv + j * t * 3 * d, queryStride: 3 * d, tokens: t, heads: head..<(head + 1),
                             causal: causal, output: s.h + j * t * d, outputStride: d)
        }
        out(s.h, batch: rows, into: s.scratch, pool: pool)                      // [rows, d]
        addInPlace(s.x, s.scratch, count: rows * d)
        layerNorm(s.x, into: s.h, gamma: norm2Weight, beta: norm2Bias, columns: d, rows: 0..<rows, eps: eps)
        fc(s.h, batch: rows, into: s.ff, pool: pool)                            // [rows, mlpWidth]
        switch activation {
        case .gelu: geluInPlace(s.ff, count: rows * mlpWidth)
        case .quickGelu: quickGeluInPlace(s.ff, count: rows * mlpWidth)
        }
        proj(s.ff, batch: rows, into: s.scratch, pool: pool)                    // [rows, d]
        addInPlace(s.x, s.scratch, count: rows * d)
    }
}

/// Activation buffers for blocks of one width, grown on demand.
final class BlockScratch {
    let width, mlpWidth: Int
    private(set) var capacity = 0                            // rows held
    private(set) var x, h, qkv, scratch, ff: UnsafeMutablePointer<Float>

    init(width: Int, mlpWidth: Int) {
        (self.width, self.mlpWidth) = (width, mlpWidth)
        (x, h, qkv, scratch, ff) = (.allocate(capacity: 1), .allocate(capacity: 1), .allocate(capacity: 1),
                                    .allocate(capacity: 1), .allocate(capacity: 1))
    }

    deinit { [x, h, qkv, scratch, ff].forEach { $0.deallocate() } }

    /// Makes every buffer hold `rows` rows (contents are not kept).
    func reserve(rows: Int) {
        guard rows > capacity else { return }
        [x, h, qkv, scratch, ff].forEach { $0.deallocate() }
        (x, h, qkv, scratch, ff) = (.allocate(capacity: rows * width), .allocate(capacity: rows * width),
                                    .allocate(capacity: rows * 3 * width), .allocate(capacity: rows * width),
                                    .allocate(capacity: rows * mlpWidth))
        capacity = rows
    }
}
