// Prompt in, images out: tokenize, encode the prompt with CLIP's text tower, sample token grids for several
// candidates together (the CLIP text embedding takes the place of the image embedding the transformer was trained
// on, which is CLIP-GEN's method), decode each grid with the VQGAN, and time every stage.

import ClipgenFile
import ClipgenImage
import ClipgenKernels
import ClipgenModels
import ClipgenThreads
import Foundation

/// What to generate.
public struct GenerationRequest: Sendable {
    /// The prompt (non-empty after trimming whitespace).
    public var prompt: String
    /// Seed of the token sampler; the same seed, prompt, settings and model give the same images.
    public var seed: UInt64
    /// Token grids sampled together (each weight read serves all of them).
    public var candidates: Int
    /// Images returned: the `keep` best by CLIP score when reranking, else the first `keep` candidates.
    public var keep: Int
    public var sampler: SamplerSettings
    /// Rank the candidates by the cosine of their CLIP image embedding with the prompt's text embedding (when the
    /// model file has the image tower; otherwise candidates keep their order).
    public var rerank: Bool

    public init(prompt: String, seed: UInt64 = 0, candidates: Int = 1, keep: Int? = nil,
                sampler: SamplerSettings = SamplerSettings(), rerank: Bool = true) {
        self.prompt = prompt
        self.seed = seed
        self.candidates = candidates
        self.keep = keep ?? candidates
        self.sampler = sampler
        self.rerank = rerank
    }
}

/// Why a request cannot run.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidRequest(String)
    /// No model was named and the bundled default model is in none of these places.
    case noDefaultModel(searched: [String])

    public var description: String {
        switch self {
        case .invalidRequest(let reason): return reason
        case .noDefaultModel(let places):
            return "no model given and the bundled default model (\(DefaultModel.relativePath)) is not in any of: "
                + places.joined(separator: ", ") + "; pass a model file or set CLIPGEN_MODEL"
        }
    }
}

/// One generated image.
public struct GeneratedImage: Sendable {
    public var image: RGBImage
    /// The sampled token grid, raster order.
    public var tokens: [Int32]
    /// Which of the request's candidates it is (0-based).
    public var candidate: Int
    /// Cosine of its CLIP image embedding with the prompt's text embedding (nil without reranking).
    public var score: Float?
}

/// Wall-clock seconds per stage of one generation.
public struct GenerationTimings: Sendable, Codable {
    public var tokenize = 0.0, encode = 0.0, sample = 0.0, decode = 0.0, rerank = 0.0, total = 0.0
    /// Sampling time per token position (all candidates advance together).
    public var perToken = 0.0
}

/// The outcome of `Generator.generate`.
public struct GenerationResult: Sendable {
    public var images: [GeneratedImage]
    /// The prompt's token ids as the text encoder saw them.
    public var tokenIDs: [Int32]
    /// Tokens of the prompt cut off at the context length (0 when it fit).
    public var truncatedTokens: Int
    public var timings: GenerationTimings
    /// Memory after the run: RssAnon (runtime) and RssFile (mapped weights), peak resident.
    public var memory: MemoryReport?
}

/// A loaded model ready to generate: the text encoder, transformer and VQGAN decoder over one mapped file.
///
/// Basic usage:
///
///     let generator = try Generator()   // the bundled default model; or Generator(modelPath: "model.gguf")
///     let request = GenerationRequest(prompt: "a red circle", seed: 42, candidates: 8, keep: 1)
///     let result = try generator.generate(request)
///     try PNG.write(result.images[0].image, to: "red-circle.png",
///                   text: generator.pngText(for: result.images[0], request: request))
///     print(result.timings.total, "s")
///
/// Not thread-safe: one generation at a time (each uses every thread of its pool).
public final class Generator {
    public let modelPath: String
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextEncoder
    public let transformer: GPT
    public let decoder: VQGANDecoder
    /// CLIP's image tower, when the file has one: candidates are reranked with it.
    public let imageEncoder: CLIPImageEncoder?
    public let pool: ThreadPool
    /// Seconds spent opening, validating and mapping the file and building the models.
    public let loadSeconds: Double
    /// Precision of the transformer's KV cache (binary16 by default: half the memory and attention's reads).
    public var kvCache: KVCachePrecision = .f16
    /// The mapped model file every component reads its weights from.
    public let file: GGUFFile

    /// Opens the model file and checks every tensor of the three components.
    /// - Parameter threads: worker threads including the caller (default: usable physical cores).
    public init(modelPath: String, threads: Int? = nil) throws {
        let start = Date()
        self.modelPath = modelPath
        file = try GGUFFile(path: modelPath)
        tokenizer = try CLIPTokenizer(file: file)
        textEncoder = try CLIPTextEncoder(file: file)
        transformer = try GPT(file: file)
        decoder = try VQGANDecoder(file: file)
        let clip = try ComponentReader(file, component: "clip")
        imageEncoder = try clip.bool("has_vision") ? CLIPImageEncoder(file: file) : nil
        try Generator.checkComponentsAgree(file.path, textEncoder.config, transformer.config, decoder.config)
        pool = threads.map { ThreadPool(threads: $0) } ?? ThreadPool()
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// Loads the bundled default model (`DefaultModel.path()`: $CLIPGEN_MODEL, else models/clipgen-default.gguf).
    public convenience init(threads: Int? = nil) throws {
        try self.init(modelPath: DefaultModel.path(), threads: threads)
    }

    /// The checks the converter makes, repeated: a file assembled by other means must still fit together.
    static func checkComponentsAgree(_ path: String, _ clip: CLIPTextConfig, _ gpt: GPTConfig, _ vqgan: VQGANConfig) throws {
        if clip.embedDim != gpt.condDim {
            throw ModelError.invalidMetadata(path: path, key: "clipgen.gpt.cond_dim",
                                             reason: "\(gpt.condDim) != clipgen.clip.embed_dim \(clip.embedDim)")
        }
        if vqgan.codebookSize != gpt.vocabSize {
            throw ModelError.invalidMetadata(path: path, key: "clipgen.gpt.vocab_size",
                                             reason: "\(gpt.vocabSize) != clipgen.vqgan.n_embed \(vqgan.codebookSize)")
        }
        if vqgan.gridHeight != gpt.gridHeight || vqgan.gridWidth != gpt.gridWidth {
            throw ModelError.invalidMetadata(path: path, key: "clipgen.gpt.grid",
                                             reason: "\(gpt.gridHeight)x\(gpt.gridWidth) != clipgen.vqgan.grid \(vqgan.gridHeight)x\(vqgan.gridWidth)")
        }
    }

    /// Checks a request before any work: a clear message for each bad value.
    public func validate(_ request: GenerationRequest) throws {
        if request.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw GenerationError.invalidRequest("the prompt is empty")
        }
        if tokenizer.tokens(request.prompt).isEmpty {
            throw GenerationError.invalidRequest("the prompt has no text left after cleaning (control characters only?)")
        }
        if request.candidates < 1 || request.candidates > 256 {
            throw GenerationError.invalidRequest("--candidates must be in 1...256 (got \(request.candidates))")
        }
        if request.keep < 1 || request.keep > request.candidates {
            throw GenerationError.invalidRequest("--keep must be in 1...\(request.candidates), the number of candidates (got \(request.keep))")
        }
        if let problem = request.sampler.problem { throw GenerationError.invalidRequest(problem) }
    }

    /// Token ids of a prompt (padded to the context length) and how many were cut off.
    public func tokenize(_ prompt: String) -> (ids: [Int32], truncated: Int) {
        let e = tokenizer.encoding(prompt)
        return (e.ids, e.droppedTokenCount)
    }

    /// The L2-normalised CLIP text embedding of a prompt.
    public func embed(_ prompt: String) -> [Float] {
        textEncoder.encode(tokenize(prompt).ids, pool: pool)
    }

    /// Samples `candidates` token grids conditioned on `embedding`. With guidance (settings.guidance != 1) the
    /// transformer runs 2 x candidates rows: rows 0..<candidates on the embedding, the rest on the zero vector,
    /// row candidates + j fed candidate j's tokens; candidate j samples from the guided mix of its two rows.
    /// - Parameter progress: called after each token position with (done, total).
    public func sample(embedding: [Float], candidates: Int, seed: UInt64, settings: SamplerSettings,
                       progress: ((Int, Int) -> Void)? = nil) -> [[Int32]] {
        let gpt = transformer, vocab = gpt.config.vocabSize, count = gpt.config.tokensPerImage
        let guided = settings.guidance != 1
        let rows = guided ? 2 * candidates : candidates
        let state = gpt.makeState(candidates: rows, cache: kvCache)
        var sampler = TokenSampler(settings: settings, seed: seed, candidates: candidates)
        var logits = [Float](repeating: 0, count: rows * vocab)        // [rows, vocab]
        var mixed = [Float](repeating: 0, count: guided ? vocab : 0)   // one candidate's guided logits
        var conditions = [[Float]](repeating: embedding, count: candidates).flatMap { $0 }
        if guided { conditions += [Float](repeating: 0, count: candidates * embedding.count) }
        conditions.withUnsafeBufferPointer { c in
            logits.withUnsafeMutableBufferPointer { gpt.start(state, conditions: c.baseAddress!, logits: $0.baseAddress!, pool: pool) }
        }
        var grids = [[Int32]](repeating: [], count: candidates)
        var next = [Int32](repeating: 0, count: rows)
        let g = Float(settings.guidance)
        for position in 0..<count {
            logits.withUnsafeBufferPointer { l in
                let base = l.baseAddress!
                for j in 0..<candidates {
                    if guided {
                        mixed.withUnsafeMutableBufferPointer { m in
                            guide(base + j * vocab, base + (candidates + j) * vocab, scale: g,
                                  into: m.baseAddress!, count: vocab)
                            next[j] = sampler.sample(m.baseAddress!, vocab: vocab, candidate: j)
                        }
                        next[candidates + j] = next[j]
                    } else {
                        next[j] = sampler.sample(base + j * vocab, vocab: vocab, candidate: j)
                    }
                }
            }
            for j in 0..<candidates { grids[j].append(next[j]) }
            if position + 1 < count {
                next.withUnsafeBufferPointer { t in
                    logits.withUnsafeMutableBufferPointer { gpt.step(state, tokens: t.baseAddress!, logits: $0.baseAddress!, pool: pool) }
                }
            }
            progress?(position + 1, count)
        }
        return grids
    }

    /// Decodes a token grid to an image.
    public func decode(_ tokens: [Int32]) throws -> RGBImage {
        let c = decoder.config
        guard tokens.count == c.gridHeight * c.gridWidth else {
            throw GenerationError.invalidRequest("expected \(c.gridHeight * c.gridWidth) tokens (a \(c.gridHeight)x\(c.gridWidth) grid), got \(tokens.count)")
        }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.codebookSize }) {
            throw GenerationError.invalidRequest("token \(bad) is outside the codebook 0..<\(c.codebookSize)")
        }
        return RGBImage(width: c.imageWidth, height: c.imageHeight, pixels: decoder.decode(tokens, pool: pool))
    }

    /// Runs the whole pipeline.
    /// - Parameter progress: called with (stage name, fraction of that stage done).
    public func generate(_ request: GenerationRequest, progress: ((String, Double) -> Void)? = nil) throws -> GenerationResult {
        try validate(request)
        var t = GenerationTimings()
        let start = Date()
        var mark = start
        func lap() -> Double { let now = Date(); defer { mark = now }; return now.timeIntervalSince(mark) }

        let (ids, truncated) = tokenize(request.prompt)
        t.tokenize = lap()
        let embedding = textEncoder.encode(ids, pool: pool)
        t.encode = lap()
        let grids = sample(embedding: embedding, candidates: request.candidates, seed: request.seed,
                           settings: request.sampler) { done, total in progress?("sample", Double(done) / Double(total)) }
        t.sample = lap()
        t.perToken = t.sample / Double(transformer.config.tokensPerImage)
        let ranking = request.rerank && imageEncoder != nil
        let decoded = ranking ? request.candidates : request.keep
        var images: [GeneratedImage] = []
        for j in 0..<decoded {
            images.append(GeneratedImage(image: try decode(grids[j]), tokens: grids[j], candidate: j, score: nil))
            progress?("decode", Double(j + 1) / Double(decoded))
        }
        t.decode = lap()
        if ranking {
            for j in images.indices {
                images[j].score = score(images[j].image, against: embedding)
                progress?("rerank", Double(j + 1) / Double(images.count))
            }
            // Best first; ties keep the candidate order.
            images = images.enumerated().sorted { ($0.element.score!, -$0.offset) > ($1.element.score!, -$1.offset) }
                .map(\.element)
            images.removeLast(images.count - request.keep)
            t.rerank = lap()
        }
        t.total = Date().timeIntervalSince(start)
        return GenerationResult(images: images, tokenIDs: ids, truncatedTokens: truncated, timings: t,
                                memory: MemoryReport.current())
    }

    /// Cosine of an image's CLIP embedding with a (normalised) text embedding: CLIP's preprocessing (bicubic resize
    /// of the shorter side to the tower's size, centre crop), then the image tower. Nil without an image tower.
    public func score(_ image: RGBImage, against text: [Float]) -> Float? {
        guard let imageEncoder else { return nil }
        let embedding = imageEncoder.encode(clipPixels(image, size: imageEncoder.config.imageSize), pool: pool)
        return zip(embedding, text).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// PNG text entries recording how an image was made.
    public func pngText(for image: GeneratedImage, request: GenerationRequest, version: String) -> [(keyword: String, value: String)] {
        [("Software", "clipgen \(version)"),
         ("prompt", request.prompt),
         ("seed", String(request.seed)),
         ("candidate", "\(image.candidate) of \(request.candidates)"),
         ("sampler", "top_k=\(request.sampler.topK) top_p=\(request.sampler.topP) temperature=\(request.sampler.temperature)"
            + (request.sampler.guidance == 1 ? "" : " guidance=\(request.sampler.guidance)")),
         ("model", URL(fileURLWithPath: modelPath).lastPathComponent),
         ("model_digest", modelDigest)]
            + (image.score.map { [("clip_score", String(format: "%.4f", $0))] } ?? [])
    }

    /// A fast 64-bit content digest of the model file (not cryptographic), "clipgen64:" + 16 hex digits, computed once.
    public private(set) lazy var modelDigest: String = {
        "clipgen64:" + String(format: "%016llx", contentDigest(file.mappedBytes))
    }()
}

/// An image as CLIP's preprocessing gives it to the image tower: the shorter side resized to `size` (bicubic, as
/// Pillow), the centre `size` x `size` crop, RGB in [0, 1] HWC (normalisation happens in the encoder).
func clipPixels(_ image: RGBImage, size: Int) -> [Float] {
    // torchvision's Resize(size) keeps the aspect ratio, truncating the longer side; CenterCrop rounds the offset.
    let (w, h) = image.width <= image.height
        ? (size, Int(Double(size) * Double(image.height) / Double(image.width)))
        : (Int(Double(size) * Double(image.width) / Double(image.height)), size)
    let resized = image.resampledBicubic(width: w, height: h)
    let top = Int((Double(h - size) / 2).rounded()), left = Int((Double(w - size) / 2).rounded())
    var out = [Float](repeating: 0, count: size * size * 3)
    for y in 0..<size {
        let source = ((top + y) * w + left) * 3
        out.replaceSubrange((y * size * 3)..<((y + 1) * size * 3), with: resized[source..<(source + size * 3)])
    }
    return out
}

/// 64-bit digest of a byte buffer: four multiply-rotate lanes over 8-byte words, then the tail, then a finaliser.
/// Fast enough to hash a whole model (several GB/s); changes whenever any byte changes, with high probability.
func contentDigest(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let prime1: UInt64 = 0x9E37_79B1_85EB_CA87, prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    var lanes: (UInt64, UInt64, UInt64, UInt64) = (prime1, prime2, ~prime1, ~prime2)
    @inline(__always) func round(_ acc: UInt64, _ word: UInt64) -> UInt64 {
        let a = acc &+ word &* prime2
        return ((a << 31) | (a >> 33)) &* prime1
    }
    let base = bytes.baseAddress!, count = bytes.count
    var i = 0
    while i + 32 <= count {
        lanes.0 = round(lanes.0, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        lanes.1 = round(lanes.1, base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
        lanes.2 = round(lanes.2, base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
        lanes.3 = round(lanes.3, base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
        i += 32
    }
    var h = UInt64(count) &+ round(round(round(round(0, lanes.0), lanes.1), lanes.2), lanes.3)
    while i < count {
        h = round(h, UInt64(base.load(fromByteOffset: i, as: UInt8.self)))
        i += 1
    }
    h ^= h >> 33
    h = h &* prime2
    h ^= h >> 29
    return h
}
