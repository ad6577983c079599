// The token sampler: greedy is argmax, top-k / top-p never pick outside their sets, the empirical distribution
// follows softmax(logits / T), and a seed reproduces the same tokens.
import ClipgenPipeline
import Foundation
import Testing

private func sampleMany(_ logits: [Float], _ settings: SamplerSettings, draws: Int, seed: UInt64 = 1) -> [Int] {
    var sampler = TokenSampler(settings: settings, seed: seed, candidates: 1)
    var counts = [Int](repeating: 0, count: logits.count)
    logits.withUnsafeBufferPointer { p in
        for _ in 0..<draws { counts[Int(sampler.sample(p.baseAddress!, vocab: logits.count, candidate: 0))] += 1 }
    }
    return counts
}

@Test func splitMixMatchesItsPublishedSequence() {
    // First outputs of SplitMix64 seeded with 0 (the reference C implementation's values).
    var g = SplitMix64(seed: 0)
    #expect(g.next() == 0xE220_A839_7B1D_CDAF)
    #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
    #expect(g.next() == 0x06C4_5D18_8009_454F)
}

@Test func greedyIsArgmaxWithLowestIndexOnTies() {
    let logits: [Float] = [0.5, 2, -1, 2, 1.5]
    let counts = sampleMany(logits, SamplerSettings(topK: 1), draws: 20)
    #expect(counts == [0, 20, 0, 0, 0])
}

@Test func topKAndTopPStayInsideTheirSets() {
    let logits: [Float] = (0..<50).map { Float($0 % 7) - Float($0) * 0.01 }
    let k = sampleMany(logits, SamplerSettings(topK: 5, topP: 1), draws: 3000)
    let allowed = Set((0..<50).sorted { logits[$0] > logits[$1] }.prefix(5))
    #expect(k.indices.allSatisfy { k[$0] == 0 || allowed.contains($0) })
    // top-p 0.5 over a peaked distribution: only the tokens making up the first half of the mass.
    let peaked: [Float] = [5, 4, 3, 0, 0, 0]
    let p = sampleMany(peaked, SamplerSettings(topK: 0, topP: 0.5), draws: 2000)
    #expect(p == [2000, 0, 0, 0, 0, 0], "softmax([5, 4, 3, ...]) puts 0.66 on token 0, which alone reaches 0.5")
}

@Test func distributionFollowsTheSoftmax() {
    let logits: [Float] = [1, 0, -1, 0.5]
    let t = 0.7
    let draws = 40_000
    let counts = sampleMany(logits, SamplerSettings(topK: 0, topP: 1, temperature: t), draws: draws)
    let weights = logits.map { exp(Double($0) / t) }
    let total = weights.reduce(0, +)
    for i in logits.indices {
        let expected = weights[i] / total, observed = Double(counts[i]) / Double(draws)
        #expect(abs(observed - expected) < 0.01, "token \(i): \(observed) vs softmax \(expected)")
    }
}

@Test func seedReproducesAndCandidatesDiffer() {
    let logits: [Float] = (0..<100).map { Float(sin(Double($0))) }
    let a = sampleMany(logits, SamplerSettings(topK: 0, topP: 1), draws: 200, seed: 42)
    let b = sampleMany(logits, SamplerSettings(topK: 0, topP: 1), draws: 200, seed: 42)
    let c = sampleMany(logits, SamplerSettings(topK: 0, topP: 1), draws: 200, seed: 43)
    #expect(a == b)
    #expect(a != c)
}

@Test func badSettingsAreNamed() {
    #expect(SamplerSettings(topK: -1).problem?.contains("--top-k") == true)
    #expect(SamplerSettings(topP: 0).problem?.contains("--top-p") == true)
    #expect(SamplerSettings(temperature: 0).problem?.contains("--temperature") == true)
    #expect(SamplerSettings().problem == nil)
}
