// Choosing the next image token from the transformer's logits: temperature, top-k, top-p (nucleus), then a draw
// from a documented seeded generator, so a seed reproduces an image exactly at any thread count.

import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): 64-bit state, one add and three
/// xor-shift-multiplies per draw. Chosen because it is tiny, fast and fully specified here: the same seed gives
/// the same stream in any language (`next()` below is the whole algorithm).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1) from the top 53 bits of one draw.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Sampler settings (the defaults are HFAiLab/clip-gen's demo settings).
public struct SamplerSettings: Equatable, Sendable, Codable {
    /// Keep only the k most likely tokens (1 = greedy; 0 or >= vocabulary = no limit).
    public var topK: Int = 500
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = no limit).
    public var topP: Double = 0.95
    /// Logits are divided by this before the softmax (> 0).
    public var temperature: Double = 1.0
    /// Classifier-free guidance scale g: the logits sampled from are u + g (c - u), c conditioned on the prompt and
    /// u on the zero vector (the unconditioned input of a transformer trained with `clipgen-train gpt --cond-drop`).
    /// 1 = off (c alone, one transformer pass); above 1 follows the prompt more closely at twice the sampling work.
    public var guidance: Double = 1.0

    public init(topK: Int = 500, topP: Double = 0.95, temperature: Double = 1.0, guidance: Double = 1.0) {
        (self.topK, self.topP, self.temperature, self.guidance) = (topK, topP, temperature, guidance)
    }

    /// Why the settings cannot be used, or nil.
    public var problem: String? {
        if topK < 0 { return "--top-k must be >= 0 (got \(topK)); 1 is greedy, 0 means no limit" }
        if !(topP > 0 && topP <= 1) { return "--top-p must be in (0, 1] (got \(topP))" }
        if !(temperature > 0 && temperature.isFinite) { return "--temperature must be > 0 (got \(temperature))" }
        if !(guidance >= 0 && guidance <= 100) { return "--guidance must be in 0...100 (got \(guidance)); 1 is off" }
        return nil
    }
}

/// Picks tokens from logits; one generator per candidate, seeded from the image seed and the candidate index.
public struct TokenSampler {
    public let settings: SamplerSettings
    private var generators: [SplitMix64]

    /// Candidate j draws from SplitMix64(seed: seed &+ j &* 0x9E3779B97F4A7C15), independent streams per candidate.
    public init(settings: SamplerSettings, seed: UInt64, candidates: Int) {
        precondition(settings.problem == nil, settings.problem ?? "")
        self.settings = settings
        generators = (0..<candidates).map { SplitMix64(seed: seed &+ UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
    }

    /// The next token of candidate `candidate` from its `vocab` logits.
    public mutating func sample(_ logits: UnsafePointer<Float>, vocab: Int, candidate: Int) -> Int32 {
        let k = settings.topK == 0 ? vocab : min(settings.topK, vocab)
        if k == 1 { return Int32(argmax(logits, vocab)) }
        // The k best tokens, most likely first (ties: lower id first, so the order is total and reproducible).
        let best = topIndices(logits, vocab, k)
        let t = settings.temperature
        let top = Double(logits[best[0]])
        var weights = best.map { exp((Double(logits[$0]) - top) / t) }
        let total = weights.reduce(0, +)
        // Nucleus: the shortest prefix whose probability reaches p.
        var kept = weights.count
        if settings.topP < 1 {
            var cumulative = 0.0
            for (i, w) in weights.enumerated() {
                cumulative += w / total
                if cumulative >= settings.topP { kept = i + 1; break }
            }
            weights.removeLast(weights.count - kept)
        }
        let mass = weights.reduce(0, +)
        var u = generators[candidate].unit() * mass
        for (i, w) in weights.enumerated() {
            u -= w
            if u < 0 { return Int32(best[i]) }
        }
        return Int32(best[kept - 1])
    }
}

/// `guided[i] = u[i] + g * (c[i] - u[i])`: classifier-free guidance of conditioned logits c by unconditioned u.
func guide(_ c: UnsafePointer<Float>, _ u: UnsafePointer<Float>, scale g: Float,
           into guided: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { guided[i] = u[i] + g * (c[i] - u[i]) }
}

/// Index of the largest logit (the lowest such index on ties).
func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for i in 1..<n where x[i] > x[best] { best = i }
    return best
}

/// The indices of the k largest values, largest first, ties by lower index.
func topIndices(_ x: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [Int] {
    @inline(__always) func before(_ a: Int, _ b: Int) -> Bool { x[a] > x[b] || (x[a] == x[b] && a < b) }
    if k >= n { return (0..<n).sorted(by: before) }
    // Keep a sorted window of the k best seen so far; most tokens fail the first comparison.
    var window = (0..<k).sorted(by: before)
    for i in k..<n where before(i, window[k - 1]) {
        var lo = 0, hi = k - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if before(i, window[mid]) { hi = mid } else { lo = mid + 1 }
        }
        window.removeLast()
        window.insert(i, at: lo)
    }
    return window
}
