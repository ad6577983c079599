// Port of CLIP's ViT image tower (openai/CLIP clip/model.py `VisionTransformer`; the spec is docs/model-clip.md and
// converter/clipgen_convert/clip_ref.py `image_embedding`): pixel normalisation, patch embedding (a stride-P conv
// without bias), the class token, positional embeddings, ln_pre, pre-LN blocks without a mask, ln_post of the class
// token, the projection, L2 normalisation. Used to rerank generated candidates by cosine with the text embedding.

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// The image tower's hyper-parameters (`clipgen.clip.vision.*`).
public struct CLIPImageConfig: Equatable, Sendable {
    public var width: Int, layers: Int, heads: Int, mlpWidth: Int
    /// Patch side P and image side S (pixels); S / P patches per side.
    public var patchSize: Int, imageSize: Int
    public var lnEps: Float
    public var activation: BlockActivation
    /// Per-channel RGB normalisation of pixels in [0, 1]: (x - mean) / std.
    public var imageMean: [Float], imageStd: [Float]
    public var embedDim: Int

    /// Patches per side.
    public var grid: Int { imageSize / patchSize }

    public init(_ r: ComponentReader) throws {
        width = try r.int("vision.width", in: 32...65536)
        layers = try r.int("vision.layers", in: 1...256)
        heads = try r.int("vision.heads", in: 1...1024)
        mlpWidth = try r.int("vision.mlp_width", in: 32...(1 << 20))
        patchSize = try r.int("vision.patch_size", in: 1...1024)
        imageSize = try r.int("vision.image_size", in: 1...8192)
        lnEps = try r.float("vision.ln_eps", in: 0...1)
        activation = BlockActivation(rawValue: try r.string("vision.activation", oneOf: ["gelu", "quick_gelu"]))!
        embedDim = try r.int("embed_dim", in: 1...65536)
        imageMean = try r.floats("vision.image_mean", count: 3)
        imageStd = try r.floats("vision.image_std", count: 3)
        _ = try r.string("vision.pooling", oneOf: ["class_token"])
        _ = try r.string("vision.preprocess", oneOf: ["resize_bicubic_center_crop"])
        let path = r.file.path
        guard imageSize % patchSize == 0 else {
            throw ModelError.invalidMetadata(path: path, key: r.metadataKey("vision.image_size"),
                                             reason: "\(imageSize) is not a multiple of the patch size \(patchSize)")
        }
        guard width % heads == 0 else {
            throw ModelError.invalidMetadata(path: path, key: r.metadataKey("vision.heads"),
                                             reason: "\(heads) heads do not divide the width \(width)")
        }
        guard imageStd.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidMetadata(path: path, key: r.metadataKey("vision.image_std"), reason: "must be positive")
        }
    }
}

/// CLIP's image encoder over a mapped model file: an S x S RGB image in [0, 1] in, L2-normalised embedding out.
public final class CLIPImageEncoder {
    public let config: CLIPImageConfig
    /// The mapped file: every weight pointer below points into it, so the model keeps it open.
    let file: GGUFFile
    let patchWeights: UnsafePointer<Float>                  // [width, P, P, 3]: row d = (ky, kx, c)
    let classEmbedding: UnsafePointer<Float>                // [width]
    let positionalEmbedding: UnsafePointer<Float>           // [1 + G*G, width]
    let lnPreWeight, lnPreBias: UnsafePointer<Float>        // [width]
    let blocks: [TransformerBlock]
    let lnPostWeight, lnPostBias: UnsafePointer<Float>      // [width]
    let projection: Linear                                  // [embedDim, width], no bias

    /// Loads the image tower; fails with `missingComponent`-style metadata errors when the file has none.
    public init(file: GGUFFile) throws {
        let r = try ComponentReader(file, component: "clip")
        self.file = file
        guard try r.bool("has_vision") else {
            throw ModelError.invalidMetadata(path: file.path, key: r.metadataKey("has_vision"),
                                             reason: "false: the file has no CLIP image tower (needed to rerank)")
        }
        let c = try CLIPImageConfig(r)
        config = c
        let p = c.patchSize
        patchWeights = try r.tensor("vision.patch_embed.weight", shape: [3, p, p, c.width], types: [.f32]).f32.baseAddress!
        classEmbedding = try r.vector("vision.class_embedding", count: c.width)
        positionalEmbedding = try r.tensor("vision.positional_embedding", shape: [c.width, 1 + c.grid * c.grid],
                                           types: [.f32]).f32.baseAddress!
        lnPreWeight = try r.vector("vision.ln_pre.weight", count: c.width)
        lnPreBias = try r.vector("vision.ln_pre.bias", count: c.width)
        blocks = try (0..<c.layers).map {
            try TransformerBlock(r, prefix: "vision.blocks.\($0).", norms: ("ln_1", "ln_2"), width: c.width,
                                 mlpWidth: c.mlpWidth, heads: c.heads, eps: c.lnEps, activation: c.activation)
        }
        lnPostWeight = try r.vector("vision.ln_post.weight", count: c.width)
        lnPostBias = try r.vector("vision.ln_post.bias", count: c.width)
        projection = try Linear(r, "vision.projection", in: c.width, out: c.embedDim, hasBias: false)
    }

    /// The normalised embedding of an image already resized and cropped to S x S.
    /// - Parameter pixels: `[S, S, 3]` RGB in [0, 1], rows top to bottom (CLIP's normalisation is applied here).
    public func encode(_ pixels: [Float], pool: ThreadPool) -> [Float] {
        let c = config, s = c.imageSize, p = c.patchSize, g = c.grid, d = c.width, k = p * p * 3
        precondition(pixels.count == s * s * 3, "CLIP image: \(pixels.count) values for a \(s)x\(s) RGB image")
        // Patches as rows [G*G, P*P*3], each in (ky, kx, c) order like the weight rows, normalised.
        var patches = [Float](repeating: 0, count: g * g * k)
        for py in 0..<g {
            for px in 0..<g {
                let row = (py * g + px) * k
                for ky in 0..<p {
                    for kx in 0..<p {
                        for ch in 0..<3 {
                            let value = pixels[((py * p + ky) * s + px * p + kx) * 3 + ch]
                            patches[row + (ky * p + kx) * 3 + ch] = (value - c.imageMean[ch]) / c.imageStd[ch]
                        }
                    }
                }
            }
        }
        // Patch embedding: [G*G, K] @ W^T [K, width]; W^T is a transient copy (the weights are [width, K]).
        var transposed = [Float](repeating: 0, count: k * d)                 // [K, width]
        for o in 0..<d { for i in 0..<k { transposed[i * d + o] = patchWeights[o * k + i] } }
        let scratch = BlockScratch(width: d, mlpWidth: c.mlpWidth)
        let tokens = 1 + g * g
        scratch.reserve(rows: tokens)
        scratch.x.update(from: classEmbedding, count: d)                     // row 0: the class token
        patches.withUnsafeBufferPointer { a in
            transposed.withUnsafeBufferPointer { b in
                pool.gemm(m: g * g, n: d, k: k, a: a.baseAddress!, b: b.baseAddress!, c: scratch.x + d)
            }
        }
        addInPlace(scratch.x, positionalEmbedding, count: tokens * d)
        layerNorm(scratch.x, into: scratch.x, gamma: lnPreWeight, beta: lnPreBias, columns: d, rows: 0..<tokens,
                  eps: c.lnEps)
        let layout = KVCacheLayout(heads: c.heads, capacity: tokens, headDim: d / c.heads)
        for block in blocks {
            block(scratch, tokens: tokens, caches: [KVCache(layout: layout)], causal: false, pool: pool)
        }
        var pooled = [Float](repeating: 0, count: d)
        pooled.withUnsafeMutableBufferPointer {
            layerNorm(scratch.x, into: $0.baseAddress!, gamma: lnPostWeight, beta: lnPostBias, columns: d, rows: 0..<1,
                      eps: c.lnEps)
        }
        return pooledEmbedding(pooled, projection: projection, pool: pool)
    }
}
