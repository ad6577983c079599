// `clipgen bench conv --model FILE`: the VQGAN decoder's convolutions in float and in int8 arithmetic on the same
// token grid, timed alternately (medians) and compared pixel by pixel, so the choice between them is measured.

import ClipgenFile
import ClipgenModels
import ClipgenPipeline
import ClipgenThreads
import Foundation

/// Figures of one convolution-arithmetic comparison.
public struct ConvBenchReport: Codable {
    public var machine: String
    public var model: String
    public var threads: Int
    public var repeats: Int
    public var image: [Int]
    /// Convolutions that ran in int8 under `.int8`, and all of the decoder's convolutions.
    public var int8Convolutions: Int
    public var convolutions: Int
    public var floatDecodeMilliseconds: Summary
    public var int8DecodeMilliseconds: Summary
    /// Median float time / median int8 time (> 1: int8 is faster).
    public var int8Speedup: Double
    /// The 8-bit images of both decodes compared: PSNR (dB, peak 255; nil when they are equal) and the largest
    /// difference of one channel value.
    public var psnrDecibels: Double?
    public var maxAbsoluteDifference: Int
    /// Peak RssAnon over the whole comparison.
    public var peakRssAnonBytes: Int

    public var table: String {
        func ms(_ s: Summary) -> String { String(format: "%.2f [%.2f-%.2f] ms", s.median, s.min, s.max) }
        return """
            machine: \(machine)
            model: \(model), \(threads) thread(s), medians of \(repeats) alternating runs, one \(image[0])x\(image[1]) image
            decode, float convolutions          \(ms(floatDecodeMilliseconds))
            decode, int8 convolutions           \(ms(int8DecodeMilliseconds))  (\(int8Convolutions) of \(convolutions) layers in int8)
            int8 speed-up (float / int8)        \(String(format: "%.2f", int8Speedup))x
            int8 image against float image      PSNR \(psnrDecibels.map { String(format: "%.1f dB", $0) } ?? "infinite (equal)"), largest difference \(maxAbsoluteDifference) of 255
            memory: peak RssAnon \(MemoryReport.mebibytes(peakRssAnonBytes))
            """
    }
}

public struct ConvBenchmark {
    public var modelPath: String
    public var threads: Int?
    public var repeats: Int
    public var prompt: String

    public init(modelPath: String, threads: Int?, repeats: Int, prompt: String) {
        (self.modelPath, self.threads, self.repeats, self.prompt) = (modelPath, threads, repeats, prompt)
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> ConvBenchReport {
        let sampler = PeakAnonymousMemory()
        defer { sampler.stop() }
        progress("loading \(modelPath) ...")
        let generator = try Generator(modelPath: modelPath, threads: threads)
        let decoder = generator.decoder
        let (ids, _) = generator.tokenize(prompt)
        let embedding = generator.textEncoder.encode(ids, pool: generator.pool)
        let grid = generator.sample(embedding: embedding, candidates: 1, seed: 1, settings: SamplerSettings())[0]
        var times: [ConvolutionArithmetic: [Double]] = [:]
        var images: [ConvolutionArithmetic: [UInt8]] = [:]
        for r in 0..<repeats {
            progress("run \(r + 1) of \(repeats) ...")
            for arithmetic in ConvolutionArithmetic.allCases {
                decoder.convolutionArithmetic = arithmetic
                let start = monotonicSeconds()
                let image = decoder.decode(grid, pool: generator.pool)
                times[arithmetic, default: []].append((monotonicSeconds() - start) * 1000)
                sampler.sample()
                if images[arithmetic] == nil { images[arithmetic] = image }
            }
        }
        let a = images[.float]!, b = images[.int8]!
        var squares = 0.0, largest = 0
        for (x, y) in zip(a, b) {
            let d = Int(x) - Int(y)
            squares += Double(d * d)
            largest = max(largest, abs(d))
        }
        let mse = squares / Double(a.count)
        let floatTime = Summary(times[.float]!), int8Time = Summary(times[.int8]!)
        let counts = decoder.int8ConvolutionCount
        let c = decoder.config
        return ConvBenchReport(
            machine: CPUInfo.machineLine, model: modelPath, threads: generator.pool.threadCount, repeats: repeats,
            image: [c.imageWidth, c.imageHeight], int8Convolutions: counts.capable, convolutions: counts.all,
            floatDecodeMilliseconds: floatTime, int8DecodeMilliseconds: int8Time,
            int8Speedup: floatTime.median / int8Time.median,
            psnrDecibels: mse == 0 ? nil : 10 * log10(255 * 255 / mse), maxAbsoluteDifference: largest,
            peakRssAnonBytes: sampler.stop())
    }
}
