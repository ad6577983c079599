// Port of the CLIP-GEN transformer (HFAiLab/clip-gen models/gpt.py; the spec is docs/model-gpt.md and
// converter/clipgen_convert/gpt_ref.py): one prefix token made from the L2-normalised CLIP embedding, then the
// image tokens in raster order, pre-LN blocks (nn.TransformerEncoderLayer with norm_first), exact GELU, a final
// LayerNorm and a head with bias. Decoding is KV-cached; several candidates advance together so that each weight
// read from memory serves all of them.

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// The transformer's hyper-parameters, read from `clipgen.gpt.*` and validated once.
public struct GPTConfig: Equatable, Sendable {
    /// Number of blocks.
    public var layers: Int
    /// Model width d.
    public var dModel: Int
    /// Attention heads (head width d / heads).
    public var heads: Int
    /// MLP hidden width.
    public var dFF: Int
    /// Token vocabulary (the VQGAN codebook size).
    public var vocabSize: Int
    /// Width of the CLIP embedding the condition is made from.
    public var condDim: Int
    /// Rows of the positional embedding (condition + tokens fed back).
    public var positions: Int
    /// Token grid, rows x columns, raster order.
    public var gridHeight: Int, gridWidth: Int
    /// LayerNorm epsilon.
    public var normEps: Float

    /// Tokens in one image.
    public var tokensPerImage: Int { gridHeight * gridWidth }
    /// Floats per head.
    public var headDim: Int { dModel / heads }

    /// Reads and checks the configuration of the `gpt` component.
    public init(_ reader: ComponentReader) throws {
        layers = try reader.int("layers", in: 1...256)
        dModel = try reader.int("d_model", in: 32...65536)
        heads = try reader.int("heads", in: 1...1024)
        dFF = try reader.int("d_ff", in: 32...(1 << 20))
        vocabSize = try reader.int("vocab_size", in: 2...(1 << 24))
        condDim = try reader.int("cond_dim", in: 32...65536)
        positions = try reader.int("n_positions", in: 2...(1 << 20))
        let grid = try reader.ints("grid", count: 2, in: 1...4096)
        (gridHeight, gridWidth) = (grid[0], grid[1])
        normEps = try reader.float("norm_eps", in: 0...1)
        let path = reader.file.path
        guard dModel % heads == 0 else {
            throw ModelError.invalidMetadata(path: path, key: reader.metadataKey("heads"),
                                             reason: "\(heads) heads do not divide d_model \(dModel)")
        }
        guard gridHeight * gridWidth <= positions else {
            throw ModelError.invalidMetadata(path: path, key: reader.metadataKey("grid"),
                                             reason: "\(gridHeight)x\(gridWidth) tokens need more than n_positions \(positions)")
        }
        _ = try reader.string("activation", oneOf: ["gelu"])
        _ = try reader.string("condition_norm", oneOf: ["l2"])
        guard try reader.bool("norm_first") else {
            throw ModelError.invalidMetadata(path: path, key: reader.metadataKey("norm_first"),
                                             reason: "post-LN blocks are not supported (expected true)")
        }
    }
}

/// The CLIP-GEN transformer over a mapped model file.
public final class GPT {
    public let config: GPTConfig
    /// The mapped file: every weight pointer below points into it, so the model keeps it open.
    let file: GGUFFile
    let tokenEmbedding: Embedding                           // [vocab, d]
    let positionEmbedding: UnsafePointer<Float>             // [positions, d]
    let condProj: Linear                                    // [d, condDim]
    let blocks: [TransformerBlock]
    let normWeight, normBias: UnsafePointer<Float>          // [d]
    let head: Linear                                        // [vocab, d]

    /// Loads the `gpt` component, checking every tensor's name, type and shape.
    public init(file: GGUFFile) throws {
        let r = try ComponentReader(file, component: "gpt")
        self.file = file
        let c = try GPTConfig(r)
        config = c
        tokenEmbedding = try Embedding(r, "tok_emb.weight", count: c.vocabSize, width: c.dModel)
        positionEmbedding = try r.tensor("pos_emb", shape: [c.dModel, c.positions], types: [.f32]).f32.baseAddress!
        condProj = try Linear(r, "cond_proj", in: c.condDim, out: c.dModel)
        blocks = try (0..<c.layers).map {
            try TransformerBlock(r, prefix: "blocks.\($0).", norms: ("norm1", "norm2"), width: c.dModel, mlpWidth: c.dFF,
                                 heads: c.heads, eps: c.normEps, activation: .gelu)
        }
        normWeight = try r.vector("norm.weight", count: c.dModel)
        normBias = try r.vector("norm.bias", count: c.dModel)
        head = try Linear(r, "head", in: c.dModel, out: c.vocabSize)
    }

    /// Fresh state (empty KV caches) for `candidates` sequences sampled together.
    /// - Parameter cache: the KV cache precision: binary16 by default (half the memory and the bytes attention reads
    ///   per token; see README for its effect on tokens), Float for exact parity with a float reference.
    public func makeState(candidates: Int, cache: KVCachePrecision = .f16) -> GPTState {
        GPTState(config: config, candidates: candidates, precision: cache)
    }

    /// Feeds position 0, the condition, of every candidate and writes the logits of the first token.
    /// - Parameters:
    ///   - conditions: `[candidates, condDim]` CLIP embeddings (L2-normalised here).
    ///   - logits: `[candidates, vocab]`, written.
    public func start(_ state: GPTState, conditions: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>,
                      pool: ThreadPool) {
        precondition(state.position == 0, "GPT.start: the state has already been started; make a new one")
        let b = state.candidates, d = config.dModel
        state.reserve(rows: b)
        let normalised = UnsafeMutablePointer<Float>.allocate(capacity: b * config.condDim)
        defer { normalised.deallocate() }
        for j in 0..<b { l2Normalise(conditions + j * config.condDim, into: normalised + j * config.condDim, count: config.condDim) }
        condProj(normalised, batch: b, into: state.x, pool: pool)                  // [b, d]
        for j in 0..<b { addInPlace(state.x + j * d, positionEmbedding, count: d) }
        run(state, tokens: 1, pool: pool)
        finalLogits(state, rows: b, into: logits, pool: pool)
    }

    /// Feeds one token per candidate at the next position and writes the logits of the token after it.
    /// - Parameters:
    ///   - tokens: `[candidates]` ids in 0..<vocab.
    ///   - logits: `[candidates, vocab]`, written.
    public func step(_ state: GPTState, tokens: UnsafePointer<Int32>, logits: UnsafeMutablePointer<Float>,
                     pool: ThreadPool) {
        let b = state.candidates, d = config.dModel, position = state.position
        precondition(position >= 1 && position < config.positions, "GPT.step: position \(position) out of range")
        state.reserve(rows: b)
        for j in 0..<b {
            let id = Int(tokens[j])
            precondition(id >= 0 && id < config.vocabSize, "GPT.step: token \(id) outside the vocabulary")
            tokenEmbedding.copyRow(id, into: state.x + j * d)
            addInPlace(state.x + j * d, positionEmbedding + position * d, count: d)
        }
        run(state, tokens: 1, pool: pool)
        finalLogits(state, rows: b, into: logits, pool: pool)
    }

    /// The whole sequence at once (one candidate): condition then `tokens`, logits of every position.
    /// Decoding with `start` + `step` gives the same bits; this is the prefill path and the test oracle.
    /// - Returns: `[tokens.count + 1, vocab]`.
    public func forwardAll(condition: [Float], tokens: [Int32], cache: KVCachePrecision = .f16,
                           pool: ThreadPool) -> [Float] {
        precondition(condition.count == config.condDim && tokens.count + 1 <= config.positions)
        let state = makeState(candidates: 1, cache: cache)
        let t = tokens.count + 1, d = config.dModel
        state.reserve(rows: t)
        var normalised = [Float](repeating: 0, count: config.condDim)
        condition.withUnsafeBufferPointer { l2Normalise($0.baseAddress!, into: &normalised, count: config.condDim) }
        condProj(normalised, batch: 1, into: state.x, pool: pool)
        for (i, id) in tokens.enumerated() { tokenEmbedding.copyRow(Int(id), into: state.x + (i + 1) * d) }
        for i in 0..<t { addInPlace(state.x + i * d, positionEmbedding + i * d, count: d) }
        run(state, tokens: t, pool: pool)
        var logits = [Float](repeating: 0, count: t * config.vocabSize)
        logits.withUnsafeMutableBufferPointer { finalLogits(state, rows: t, into: $0.baseAddress!, pool: pool) }
        return logits
    }

    /// The blocks over `state.x` = `[candidates * tokens, d]` (candidate-major), appending to the caches.
    private func run(_ s: GPTState, tokens t: Int, pool: ThreadPool) {
        for (n, block) in blocks.enumerated() {
            block(s.scratch, tokens: t, caches: s.byLayer[n], causal: true, pool: pool)
        }
        s.position += t
    }

    /// `head(norm(x))` for the first `rows` rows of `state.x`.
    private func finalLogits(_ s: GPTState, rows: Int, into logits: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        layerNorm(s.x, into: s.h, gamma: normWeight, beta: normBias, columns: config.dModel, rows: 0..<rows,
                  eps: config.normEps)
        head(s.h, batch: rows, into: logits, pool: pool)
    }
}

/// Decoding state: one KV cache per candidate and layer, the next position, scratch activations.
public final class GPTState {
    /// Sequences advancing together.
    public let candidates: Int
    /// Positions fed so far (the same for every candidate).
    public internal(set) var position = 0
    let config: GPTConfig
    /// How the KV caches store values.
    public let precision: KVCachePrecision
    let caches: [[AttentionCache]]                          // [candidates][layers]
    /// The same caches by layer: `byLayer[n]` holds layer n's cache of every candidate (built once, not per token).
    let byLayer: [[AttentionCache]]                         // [layers][candidates]
    let scratch: BlockScratch

    init(config: GPTConfig, candidates: Int, precision: KVCachePrecision) {
        precondition(candidates >= 1, "at least one candidate")
        self.config = config
        self.candidates = candidates
        self.precision = precision
        let layout = KVCacheLayout(heads: config.heads, capacity: config.positions, headDim: config.headDim)
        let all = (0..<candidates).map { _ in (0..<config.layers).map { _ in precision.makeCache(layout: layout) } }
        caches = all
        byLayer = (0..<config.layers).map { n in all.map { $0[n] } }
        scratch = BlockScratch(width: config.dModel, mlpWidth: config.dFF)
    }

    /// Bytes held by the KV caches (the state's memory that grows with candidates and model size).
    public var cacheBytes: Int {
        candidates * config.layers * 2 * config.heads * config.positions * config.headDim * precision.bytesPerValue
    }

    var x: UnsafeMutablePointer<Float> { scratch.x }
    var h: UnsafeMutablePointer<Float> { scratch.h }

    /// Makes the activation buffers hold `rows` rows.
    func reserve(rows: Int) { scratch.reserve(rows: rows) }
}

/// `y = x / ||x||` (an all-zero x stays zero).
func l2Normalise(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    var sum: Double = 0
    for i in 0..<count { sum += Double(x[i]) * Double(x[i]) }
    let scale = sum > 0 ? Float(1 / sum.squareRoot()) : 0
    for i in 0..<count { y[i] = x[i] * scale }
}
