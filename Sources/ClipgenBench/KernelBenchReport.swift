// The figures `clipgen bench kernels` prints, as a table or as JSON.

import Foundation

/// Results of one `KernelBenchmark.run()`. Rates are medians over the configured repeats, with min and max.
public struct KernelBenchReport: Codable {
    public struct Read: Codable {
        public var threads: Int
        public var gigabytesPerSecond: Summary
    }
    public struct GEMV: Codable {
        public var threads: Int
        public var rows: Int
        public var columns: Int
        /// Weight layout: "rows" (ggml) or "x8" (blocks of 8 rows interleaved).
        public var layout: String
        public var gigabytesPerSecond: Summary
        /// GEMV weight-streaming rate / sequential-read rate of the same mapping at the same thread count.
        public var ratioToReadBandwidth: Double

        enum CodingKeys: String, CodingKey {
            case threads, rows, columns, layout
            case gigabytesPerSecond = "gigabytes_per_second"
            case ratioToReadBandwidth = "ratio_to_read_bandwidth"
        }
    }
    public struct GEMM: Codable {
        public var threads: Int
        public var gigaflops: Summary
    }
    public struct Baseline: Codable {
        /// numpy/OpenBLAS single-thread F32 GEMM on the same shape, same invocation.
        public var gigaflops: Summary
        /// Our single-thread median / numpy's median.
        public var ratioOfOursToNumpy: Double

        enum CodingKeys: String, CodingKey {
            case gigaflops
            case ratioOfOursToNumpy = "ratio_of_ours_to_numpy"
        }
    }
    public struct ParallelFor: Codable {
        public var threads: Int
        public var microseconds: Summary
    }

    public var machine: String
    public var threads: Int
    public var fileBytes: Int
    public var repeats: Int
    public var read: [Read] = []
    public var gemv: [GEMV] = []
    public var gemm: [GEMM] = []
    public var numpyGEMM: Baseline?
    /// RssFile after the first pass over the scratch file (should be about its size).
    public var residentFileBytes: Int?
    public var parallelForMicroseconds: [ParallelFor] = []
    /// One transformer layer's cached attention on one thread (16 heads x 64 dims, one query over 128 cached
    /// positions, cache in L2), microseconds, per KV cache precision ("f32", "f16").
    public var attentionMicroseconds: [String: Summary] = [:]
    public var notes: [String] = []

    enum CodingKeys: String, CodingKey {
        case machine, threads, repeats, read, gemv, gemm
        case fileBytes = "file_bytes"
        case parallelForMicroseconds = "parallel_for_us"
        case numpyGEMM = "numpy_gemm_1_thread"
        case residentFileBytes = "resident_file_bytes"
        case attentionMicroseconds = "attention_layer_us"
        case notes
    }

    /// A human-readable table of the medians (min-max in brackets).
    public var table: String {
        func f(_ s: Summary, _ digits: Int = 1) -> String {
            "\(fixed(s.median, digits)) [\(fixed(s.min, digits))-\(fixed(s.max, digits))]"
        }
        var lines = ["machine: \(machine)",
                     "scratch weight file: \(fileBytes >> 20) MiB mapped read-only, "
                        + "\(residentFileBytes.map { "\($0 >> 20) MiB" } ?? "unknown") resident; medians of \(repeats) runs",
                     ""]
        for r in read {
            lines.append("read   \(r.threads)T  sequential read of mapping        \(f(r.gigabytesPerSecond)) GB/s")
        }
        for g in gemv {
            let shape = "\(g.rows)x\(g.columns) \(g.layout)".padding(14)
            lines.append("gemv   \(g.threads)T  Q8_0 \(shape) streamed  \(f(g.gigabytesPerSecond)) GB/s"
                + "  = \(fixed(g.ratioToReadBandwidth * 100, 0))% of read")
        }
        for g in gemm {
            lines.append("gemm   \(g.threads)T  F32 256x3072 @ 3072x768            \(f(g.gigaflops)) GFLOP/s")
        }
        if let numpy = numpyGEMM {
            lines.append("numpy  1T  F32 256x3072 @ 3072x768            \(f(numpy.gigaflops)) GFLOP/s"
                + "  (ours 1T = \(fixed(numpy.ratioOfOursToNumpy, 2))x numpy)")
        }
        for p in parallelForMicroseconds {
            lines.append("pool   \(p.threads)T  empty parallel-for                 \(f(p.microseconds, 2)) us")
        }
        for (precision, us) in attentionMicroseconds.sorted(by: { $0.key < $1.key }) {
            lines.append("attn   1T  16 heads x 64, 128 cached, \(precision)     \(f(us, 1)) us per layer")
        }
        lines += notes.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
