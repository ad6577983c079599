// Port of CLIP's text tower (openai/CLIP clip/model.py `encode_text`; the spec is docs/model-clip.md and
// converter/clipgen_convert/clip_ref.py): token + positional embeddings, pre-LN blocks with a causal mask,
// ln_final, the row of the end-of-text token (the highest id), the projection, L2 normalisation.

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// The text tower's hyper-parameters (`clipgen.clip.text.*` and `clipgen.clip.embed_dim`).
public struct CLIPTextConfig: Equatable, Sendable {
    public var width: Int, layers: Int, heads: Int, mlpWidth: Int
    /// Tokens per prompt (77) and rows of the positional embedding.
    public var contextLength: Int
    public var vocabSize: Int
    public var lnEps: Float
    public var activation: BlockActivation
    /// Whether a projection maps the pooled row to the embedding (false for an HF CLIPTextModel).
    public var hasProjection: Bool
    /// Width of the normalised embedding.
    public var embedDim: Int

    public init(_ r: ComponentReader) throws {
        width = try r.int("text.width", in: 32...65536)
        layers = try r.int("text.layers", in: 1...256)
        heads = try r.int("text.heads", in: 1...1024)
        mlpWidth = try r.int("text.mlp_width", in: 32...(1 << 20))
        contextLength = try r.int("text.context_length", in: 2...4096)
        vocabSize = try r.int("text.vocab_size", in: 2...(1 << 24))
        lnEps = try r.float("text.ln_eps", in: 0...1)
        activation = BlockActivation(rawValue: try r.string("text.activation", oneOf: ["gelu", "quick_gelu"]))!
        hasProjection = try r.bool("text.has_projection")
        embedDim = try r.int("embed_dim", in: 1...65536)
        _ = try r.string("text.attn_mask", oneOf: ["causal"])
        _ = try r.string("text.pooling", oneOf: ["argmax"])
        _ = try r.string("normalize", oneOf: ["l2"])
        guard width % heads == 0 else {
            throw ModelError.invalidMetadata(path: r.file.path, key: r.metadataKey("text.heads"),
                                             reason: "\(heads) heads do not divide the width \(width)")
        }
        guard hasProjection || embedDim == width else {
            throw ModelError.invalidMetadata(path: r.file.path, key: r.metadataKey("embed_dim"),
                                             reason: "without a projection the embedding is the width \(width), not \(embedDim)")
        }
    }
}

/// CLIP's text encoder over a mapped model file: token ids in, L2-normalised embedding out.
public final class CLIPTextEncoder {
    public let config: CLIPTextConfig
    /// The mapped file: every weight pointer below points into it, so the model keeps it open.
    let file: GGUFFile
    let tokenEmbedding: Embedding                           // [vocab, width]
    let positionalEmbedding: UnsafePointer<Float>           // [context, width]
    let blocks: [TransformerBlock]
    let lnFinalWeight, lnFinalBias: UnsafePointer<Float>    // [width]
    let projection: Linear?                                 // [embedDim, width], no bias

    /// Loads the text tower of the `clip` component.
    public init(file: GGUFFile) throws {
        let r = try ComponentReader(file, component: "clip")
        self.file = file
        let c = try CLIPTextConfig(r)
        config = c
        tokenEmbedding = try Embedding(r, "text.token_embedding.weight", count: c.vocabSize, width: c.width)
        positionalEmbedding = try r.tensor("text.positional_embedding", shape: [c.width, c.contextLength],
                                           types: [.f32]).f32.baseAddress!
        blocks = try (0..<c.layers).map {
            try TransformerBlock(r, prefix: "text.blocks.\($0).", norms: ("ln_1", "ln_2"), width: c.width,
                                 mlpWidth: c.mlpWidth, heads: c.heads, eps: c.lnEps, activation: c.activation)
        }
        lnFinalWeight = try r.vector("text.ln_final.weight", count: c.width)
        lnFinalBias = try r.vector("text.ln_final.bias", count: c.width)
        projection = c.hasProjection ? try Linear(r, "text.projection", in: c.width, out: c.embedDim, hasBias: false) : nil
    }

    /// The normalised embedding of one padded token sequence (`contextLength` ids, as the tokenizer returns).
    ///
    /// Only the positions up to the end-of-text token are computed: with a causal mask, later (padding) positions
    /// cannot change the pooled row, so a short prompt costs a fraction of 77 positions.
    public func encode(_ tokens: [Int32], pool: ThreadPool) -> [Float] {
        let c = config
        precondition(tokens.count == c.contextLength, "CLIP text: \(tokens.count) ids for a context of \(c.contextLength)")
        // Pooling takes the row of the highest id (the end-of-text token; the first one if it repeats).
        var pooled = 0
        for i in 1..<tokens.count where tokens[i] > tokens[pooled] { pooled = i }
        let used = pooled + 1
        let scratch = BlockScratch(width: c.width, mlpWidth: c.mlpWidth)
        scratch.reserve(rows: used)
        for i in 0..<used {
            let id = Int(tokens[i])
            precondition(id >= 0 && id < c.vocabSize, "CLIP text: token \(id) outside the vocabulary")
            tokenEmbedding.copyRow(id, into: scratch.x + i * c.width)
            addInPlace(scratch.x + i * c.width, positionalEmbedding + i * c.width, count: c.width)
        }
        let layout = KVCacheLayout(heads: c.heads, capacity: used, headDim: c.width / c.heads)
        for block in blocks {
            block(scratch, tokens: used, caches: [KVCache(layout: layout)], causal: true, pool: pool)
        }
        var row = [Float](repeating: 0, count: c.width)
        row.withUnsafeMutableBufferPointer {
            layerNorm(scratch.x + pooled * c.width, into: $0.baseAddress!, gamma: lnFinalWeight, beta: lnFinalBias,
                      columns: c.width, rows: 0..<1, eps: c.lnEps)
        }
        return pooledEmbedding(row, projection: projection, pool: pool)
    }
}

/// CLIP's last step for either tower: the pooled row through the projection (when there is one), L2-normalised.
/// - Parameter row: `[width]`, after the final LayerNorm.
func pooledEmbedding(_ row: [Float], projection: Linear?, pool: ThreadPool) -> [Float] {
    var embedding = row
    if let projection {
        embedding = [Float](repeating: 0, count: projection.outFeatures)              // [embedDim]
        row.withUnsafeBufferPointer { x in
            embedding.withUnsafeMutableBufferPointer { projection(x.baseAddress!, batch: 1, into: $0.baseAddress!, pool: pool) }
        }
    }
    var normalised = embedding
    embedding.withUnsafeBufferPointer { e in
        normalised.withUnsafeMutableBufferPointer { l2Normalise(e.baseAddress!, into: $0.baseAddress!, count: e.count) }
    }
    return normalised
}
