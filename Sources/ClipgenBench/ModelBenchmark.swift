// `clipgen bench --model FILE`: every stage of generation timed on a real model file, medians of repeated runs,
// memory, and the transformer's weight-streaming rate.

import ClipgenFile
import ClipgenKernels
import ClipgenPipeline
import ClipgenThreads
import Foundation

/// Figures of one model benchmark run.
public struct ModelBenchReport: Codable {
    public var machine: String
    public var model: String
    public var threads: Int
    public var candidates: Int
    /// Classifier-free guidance scale sampled with (1 = off; otherwise each position runs 2 x candidates rows).
    public var guidance: Double
    public var repeats: Int
    /// "f16" or "f32".
    public var kvCache: String
    /// Open, validate and map the file and build the models (first run of this process).
    public var loadMilliseconds: Double
    public var tokenizeMilliseconds: Summary
    public var encodeMilliseconds: Summary
    /// One token position for all candidates (each run's sampling time / positions; median over runs).
    public var perTokenMilliseconds: Summary
    public var sampleMilliseconds: Summary
    /// Decoding one candidate's grid.
    public var decodeMilliseconds: Summary
    /// With several candidates and CLIP's image tower: decoding the other candidates and scoring all of them.
    public var rerankMilliseconds: Summary?
    /// The whole request: tokenize, encode, sample all candidates, decode (and rerank when there are several).
    public var endToEndMilliseconds: Summary
    /// Token positions per second (all candidates advance together, so candidates x this tokens per second).
    public var tokensPerSecond: Double
    /// Bytes of the transformer's weights (all read once per token position) and the rate they stream at.
    public var transformerWeightBytes: Int
    public var transformerGigabytesPerSecond: Double
    /// Sequential read rate of the whole mapped model file at the same thread count (median of 9 reads: 3 before
    /// the timed runs, 6 after), the per-token floor it implies (transformer bytes / read rate) and per-token
    /// time / floor.
    public var mappedReadGigabytesPerSecond: Double
    public var perTokenFloorMilliseconds: Double
    public var perTokenRatioToFloor: Double
    /// Largest RssAnon seen between stages (runtime memory) and RssFile (mapped weights), peak resident (VmHWM).
    public var peakRssAnonBytes: Int
    public var rssFileBytes: Int
    public var peakResidentBytes: Int
    public var image: [Int]

    /// Human-readable lines.
    public var table: String {
        func ms(_ s: Summary) -> String { String(format: "%.2f [%.2f-%.2f] ms", s.median, s.min, s.max) }
        let guided = guidance == 1 ? "" : ", guidance \(guidance)"
        return """
            machine: \(machine)
            model: \(model), \(threads) thread(s), \(candidates) candidate(s)\(guided), \(kvCache) KV cache, medians of \(repeats) runs
            load (open, validate, map, build)   \(String(format: "%.1f", loadMilliseconds)) ms
            tokenize                            \(ms(tokenizeMilliseconds))
            text encode                         \(ms(encodeMilliseconds))
            sample, per token position          \(ms(perTokenMilliseconds))  (\(String(format: "%.1f", tokensPerSecond)) positions/s; \
            transformer weights \(MemoryReport.mebibytes(transformerWeightBytes)) streamed at \(String(format: "%.2f", transformerGigabytesPerSecond)) GB/s)
            per-token floor: \(MemoryReport.mebibytes(transformerWeightBytes)) / \(String(format: "%.1f", mappedReadGigabytesPerSecond)) GB/s \
            (sequential read of the mapped file) = \(String(format: "%.2f", perTokenFloorMilliseconds)) ms; \
            per token / floor = \(String(format: "%.2f", perTokenRatioToFloor))
            sample, whole grid                  \(ms(sampleMilliseconds))
            decode one \(image[0])x\(image[1]) image           \(ms(decodeMilliseconds))\(rerankMilliseconds.map { "\nrerank (decode the rest, CLIP-score all)  " + ms($0) } ?? "")
            end to end                          \(ms(endToEndMilliseconds))
            memory: peak RssAnon \(MemoryReport.mebibytes(peakRssAnonBytes)), RssFile \(MemoryReport.mebibytes(rssFileBytes)), \
            peak resident \(MemoryReport.mebibytes(peakResidentBytes))
            """
    }
}

public struct ModelBenchmark {
    public var modelPath: String
    public var threads: Int?
    public var candidates: Int
    public var repeats: Int
    public var prompt: String
    public var kvCache: KVCachePrecision
    public var guidance: Double

    public init(modelPath: String, threads: Int?, candidates: Int, repeats: Int, prompt: String,
                kvCache: KVCachePrecision = .f16, guidance: Double = SamplerSettings().guidance) {
        (self.modelPath, self.threads, self.candidates, self.repeats, self.prompt) = (modelPath, threads, candidates, repeats, prompt)
        (self.kvCache, self.guidance) = (kvCache, guidance)
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> ModelBenchReport {
        // RssAnon has no kernel-kept peak, so a thread samples it every 2 ms for the whole run (stage boundaries
        // alone miss the decoder's and the KV caches' peaks).
        let sampler = PeakAnonymousMemory()
        defer { sampler.stop() }
        func sampleMemory() { sampler.sample() }
        progress("loading \(modelPath) ...")
        let loadStart = monotonicSeconds()
        let generator = try Generator(modelPath: modelPath, threads: threads)
        generator.kvCache = kvCache
        let load = monotonicSeconds() - loadStart
        sampleMemory()
        // The read rate behind the floor swings by +-10% from minute to minute on a shared host, so it is sampled
        // before and after the timed runs (3 + 6 reads of the whole file) and the median of all nine is used.
        func readRates(_ file: GGUFFile, _ count: Int) -> [Double] {
            (0..<count).map { _ in
                let start = monotonicSeconds()
                _ = parallelRead(file.mappedBytes, pool: generator.pool)
                return Double(file.fileSize) / (monotonicSeconds() - start) / 1e9
            }
        }
        progress("reading the mapped file for the bandwidth floor ...")
        // A mapping of its own, unmapped before the runs, so that RssFile stays what generation itself touches.
        var rates = readRates(try GGUFFile(path: modelPath), 3)
        let request = GenerationRequest(prompt: prompt, seed: 1, candidates: candidates, keep: 1,
                                        sampler: SamplerSettings(guidance: guidance))
        try generator.validate(request)
        var tokenize: [Double] = [], encode: [Double] = [], sample: [Double] = [], perToken: [Double] = []
        var decode: [Double] = [], rerank: [Double] = [], total: [Double] = []
        for r in 0..<repeats {
            progress("run \(r + 1) of \(repeats) ...")
            let start = monotonicSeconds()
            let (ids, _) = generator.tokenize(prompt)
            let t1 = monotonicSeconds()
            let embedding = generator.textEncoder.encode(ids, pool: generator.pool)
            let t2 = monotonicSeconds()
            sampleMemory()
            let grids = generator.sample(embedding: embedding, candidates: candidates, seed: UInt64(r),
                                         settings: request.sampler) { done, total in if done == total { sampleMemory() } }
            let t3 = monotonicSeconds()
            sampleMemory()
            let first = try generator.decode(grids[0])
            let t4 = monotonicSeconds()
            sampleMemory()
            if candidates > 1 && generator.imageEncoder != nil {
                _ = generator.score(first, against: embedding)
                for grid in grids.dropFirst() { _ = generator.score(try generator.decode(grid), against: embedding) }
                rerank.append(monotonicSeconds() - t4)
            }
            tokenize.append(t1 - start); encode.append(t2 - t1); sample.append(t3 - t2); decode.append(t4 - t3)
            perToken.append((t3 - t2) / Double(generator.transformer.config.tokensPerImage))
            total.append(monotonicSeconds() - start)
        }
        let memory = MemoryReport.current()
        let gptBytes = generator.file.tensors.filter { $0.name.hasPrefix("gpt.") }.reduce(0) { $0 + $1.byteCount }
        let perTokenSummary = Summary(perToken.map { $0 * 1000 })
        progress("reading the mapped file for the bandwidth floor ...")
        rates += readRates(generator.file, 6)
        let readRate = Summary(rates).median
        let floor = Double(gptBytes) / readRate / 1e6                                   // ms
        let c = generator.decoder.config
        return ModelBenchReport(
            machine: CPUInfo.machineLine, model: modelPath, threads: generator.pool.threadCount, candidates: candidates,
            guidance: guidance, repeats: repeats, kvCache: kvCache == .f32 ? "f32" : "f16", loadMilliseconds: load * 1000,
            tokenizeMilliseconds: Summary(tokenize.map { $0 * 1000 }), encodeMilliseconds: Summary(encode.map { $0 * 1000 }),
            perTokenMilliseconds: perTokenSummary, sampleMilliseconds: Summary(sample.map { $0 * 1000 }),
            decodeMilliseconds: Summary(decode.map { $0 * 1000 }),
            rerankMilliseconds: rerank.isEmpty ? nil : Summary(rerank.map { $0 * 1000 }), endToEndMilliseconds: Summary(total.map { $0 * 1000 }),
            tokensPerSecond: 1000 / perTokenSummary.median,
            transformerWeightBytes: gptBytes,
            transformerGigabytesPerSecond: Double(gptBytes) / (perTokenSummary.median / 1000) / 1e9,
            mappedReadGigabytesPerSecond: readRate, perTokenFloorMilliseconds: floor,
            perTokenRatioToFloor: perTokenSummary.median / floor,
            peakRssAnonBytes: sampler.stop(), rssFileBytes: memory?.file ?? 0, peakResidentBytes: memory?.peak ?? 0,
            image: [c.imageWidth, c.imageHeight])
    }
}

/// The largest RssAnon seen by a background thread polling /proc/self/status every 2 ms until `stop()`.
final class PeakAnonymousMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true

    init() {
        sample()
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                sample()
                usleep(2000)
            }
        }
    }

    /// Takes one reading now.
    func sample() {
        let anonymous = MemoryReport.current()?.anonymous ?? 0
        lock.withLock { peak = max(peak, anonymous) }
    }

    /// Stops the thread; returns the peak.
    @discardableResult
    func stop() -> Int {
        sample()
        return lock.withLock {
            running = false
            return peak
        }
    }
}
