// `clipgen bench kernels`: the roofline of a mapped weight file and how close the kernels get to it.

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// Measures read bandwidth, Q8_0 GEMV and F32 GEMM throughput, and the thread pool's per-loop cost.
///
/// Basic usage:
///
///     let report = try KernelBenchmark(.init(threads: 2)).run()
///     print(report.table)
public struct KernelBenchmark {
    /// What to measure and where.
    public struct Configuration {
        /// The largest thread count measured; figures are given at 1 thread and at this count.
        public var threads: Int
        /// Size of the scratch weight file; must be far beyond the last-level cache to measure DRAM.
        public var fileBytes: Int
        /// Where the scratch file is written (and unlinked at once).
        public var directory: String
        /// Timed repetitions per figure; the median is reported.
        public var repeats: Int
        /// A Python interpreter with numpy for the single-thread GEMM baseline, or nil to skip it.
        public var numpyPython: String?

        public init(threads: Int, fileBytes: Int = 1 << 30, directory: String = "/tmp", repeats: Int = 7,
                    numpyPython: String? = "python3") {
            self.threads = threads
            self.fileBytes = fileBytes
            self.directory = directory
            self.repeats = repeats
            self.numpyPython = numpyPython
        }
    }

    /// GEMV shapes measured: [rows (outputs), columns (inputs)].
    public static let gemvShapes: [(rows: Int, columns: Int)] = [(4096, 4096), (1024, 4096)]
    /// GEMM shape measured: [M, K] @ [K, N] (a ViT-B/32-sized MLP on 256 tokens).
    public static let gemmShape = (m: 256, k: 3072, n: 768)

    public let configuration: Configuration

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Runs every measurement; `progress` receives a line before each (for a terminal that waits).
    public func run(progress: (String) -> Void = { _ in }) throws -> KernelBenchReport {
        let config = configuration
        let threadCounts = config.threads > 1 ? [1, config.threads] : [1]
        progress("writing a \(config.fileBytes >> 20) MiB scratch weight file in \(config.directory) ...")
        let file = try ScratchWeightFile(directory: config.directory, byteCount: config.fileBytes)
        var report = KernelBenchReport(machine: CPUInfo.machineLine, threads: config.threads,
                                       fileBytes: file.byteCount, repeats: config.repeats)

        for threads in threadCounts {
            let pool = ThreadPool(threads: threads)
            progress("\(threads) thread(s): sequential read of the mapping ...")
            // One untimed pass faults every page in: the figures are the steady state of a mapped model.
            _ = parallelRead(UnsafeRawBufferPointer(start: file.base, count: file.byteCount), pool: pool)
            if threads == 1 {
                // The figures below are DRAM figures only if the whole file is resident (page cache, not disk).
                let memory = MemoryReport.current()
                report.residentFileBytes = memory.map { Int($0.file) }
                if let resident = report.residentFileBytes, resident < file.byteCount * 9 / 10 {
                    report.notes.append("only \(resident >> 20) MiB of the \(file.byteCount >> 20) MiB file is "
                        + "resident: figures include disk reads; use a smaller --file-mib")
                }
            }
            let read = Summary(measure(repeats: config.repeats) { _ = parallelRead(UnsafeRawBufferPointer(start: file.base, count: file.byteCount), pool: pool) })
                .inverted { Double(file.byteCount) / $0 / 1e9 }
            report.read.append(.init(threads: threads, gigabytesPerSecond: read))

            for shape in KernelBenchmark.gemvShapes {
                for layout in Q8_0Layout.allCases {
                    progress("\(threads) thread(s): Q8_0 GEMV \(shape.rows)x\(shape.columns), \(layout) layout ...")
                    let gemv = Q8GEMVSweep(file: file, rows: shape.rows, columns: shape.columns, layout: layout)
                    gemv.sweep(pool: pool)
                    let seconds = measure(repeats: config.repeats) { gemv.sweep(pool: pool) }
                    let rate = Summary(seconds).inverted { Double(gemv.bytesPerSweep) / $0 / 1e9 }
                    report.gemv.append(.init(
                        threads: threads, rows: shape.rows, columns: shape.columns, layout: layout.rawValue,
                        gigabytesPerSecond: rate, ratioToReadBandwidth: rate.median / read.median))
                }
            }

            progress("\(threads) thread(s): F32 GEMM \(KernelBenchmark.gemmShape) ...")
            let gemm = measureGEMM(pool: pool, repeats: config.repeats)
            report.gemm.append(.init(threads: threads, gigaflops: gemm))
            if threads == 1, let python = config.numpyPython {
                progress("1 thread: numpy F32 GEMM baseline ...")
                let (m, k, n) = KernelBenchmark.gemmShape
                let (numpy, why) = numpyGEMMGigaflops(python: python, m: m, k: k, n: n, repeats: config.repeats)
                report.numpyGEMM = numpy.map {
                    .init(gigaflops: $0, ratioOfOursToNumpy: gemm.median / $0.median)
                }
                report.notes += why.map { ["numpy baseline skipped: \($0)"] } ?? []
            }
            if threads > 1 {  // a 1-thread pool runs loops inline: there is nothing to measure
                report.parallelForMicroseconds.append(.init(threads: threads,
                                                            microseconds: measureParallelFor(pool: pool)))
            }
        }
        progress("1 thread: cached attention ...")
        for precision in KVCachePrecision.allCases {
            report.attentionMicroseconds[precision == .f32 ? "f32" : "f16"] =
                measureAttention(precision, repeats: config.repeats)
        }
        return report
    }

    /// One decode step of one transformer layer's attention (the GPT's shape at mid-grid), microseconds.
    private func measureAttention(_ precision: KVCachePrecision, repeats: Int) -> Summary {
        let heads = 16, d = 64, positions = 128, width = heads * d
        let cache = precision.makeCache(layout: KVCacheLayout(heads: heads, capacity: 256, headDim: d))
        let row = (0..<width).map { Float($0 % 7) * 0.1 - 0.3 }                 // [heads * headDim]
        for _ in 0..<positions { cache.append(keys: row, keyStride: width, values: row, valueStride: width, tokens: 1) }
        var out = [Float](repeating: 0, count: width)
        let calls = 200
        return Summary(measure(repeats: repeats) {
            for _ in 0..<calls {
                cache.attend(queries: row, queryStride: width, tokens: 1, heads: 0..<heads, causal: true,
                             output: &out, outputStride: width)
            }
        }.map { $0 / Double(calls) * 1e6 })
    }

    private func measureGEMM(pool: ThreadPool, repeats: Int) -> Summary {
        let (m, k, n) = KernelBenchmark.gemmShape
        var a = [Float](repeating: 0, count: m * k)  // [M, K]
        var b = [Float](repeating: 0, count: k * n)  // [K, N]
        var c = [Float](repeating: 0, count: m * n)  // [M, N]
        for i in 0..<a.count { a[i] = Float((i * 7919) % 1000) * 1e-3 - 0.5 }
        for i in 0..<b.count { b[i] = Float((i * 104_729) % 1000) * 1e-3 - 0.5 }
        let run = {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        pool.gemm(m: m, n: n, k: k, a: a.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
                    }
                }
            }
        }
        run()
        return Summary(measure(repeats: repeats, run)).inverted { 2.0 * Double(m * n * k) / $0 / 1e9 }
    }

    private func measureParallelFor(pool: ThreadPool) -> Summary {
        let loops = 20_000
        for _ in 0..<1000 { pool.parallelFor(pool.threadCount) { _ in } }
        let seconds = measure(repeats: 5) {
            for _ in 0..<loops { pool.parallelFor(pool.threadCount) { _ in } }
        }
        return Summary(seconds.map { $0 / Double(loops) * 1e6 })
    }
}

/// One pass of Q8_0 matrix-vector products over the whole scratch file, matrix after matrix, so that every
/// weight byte comes from DRAM (the file is several times the last-level cache). The file's blocks are
/// random, so they are as valid read in one layout as in the other.
final class Q8GEMVSweep {
    let file: ScratchWeightFile
    let rows: Int
    let columns: Int
    let layout: Q8_0Layout
    let matrixBytes: Int
    let matrices: Int
    let activations: Q8Activations
    let output: UnsafeMutablePointer<Float>  // [rows]

    var bytesPerSweep: Int { matrices * matrixBytes }

    init(file: ScratchWeightFile, rows: Int, columns: Int, layout: Q8_0Layout) {
        self.file = file
        self.layout = layout
        self.rows = rows
        self.columns = columns
        matrixBytes = rows * Q8_0.rowBytes(columns: columns)
        matrices = file.byteCount / matrixBytes
        var x = [Float](repeating: 0, count: columns)  // [columns]
        for i in 0..<columns { x[i] = Float((i * 7919) % 255) / 127 - 1 }
        let activations = Q8Activations(columns: columns)
        x.withUnsafeBufferPointer { activations.quantize($0.baseAddress!) }
        self.activations = activations
        output = .allocate(capacity: rows)
    }

    deinit { output.deallocate() }

    func sweep(pool: ThreadPool) {
        for m in 0..<matrices {
            pool.q8MatVec(weights: file.base + m * matrixBytes, rows: rows, columns: columns, layout: layout,
                          activations: activations, into: output)
        }
    }
}
