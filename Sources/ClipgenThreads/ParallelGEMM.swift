// F32 GEMM spread over the pool.

import ClipgenKernels

extension ThreadPool {
    /// Output columns per task: a multiple of the kernel's register tile, small enough to balance 2-4 threads on
    /// the narrowest matrices we multiply (512 columns), large enough that each task packs a long B panel once.
    public static let gemmColumnChunk = 128
    /// Output rows per task when B is pre-packed (weights), a multiple of the register tile height.
    public static let gemmRowChunk = 64

    /// C[M, N] (+)= A[M, K] @ B[K, N] (+ bias[N]), split into fixed column chunks.
    ///
    /// The split is by a constant chunk size, never by thread count, and every output element's K reduction
    /// runs in one task in a fixed order, so the result is bit-identical at any thread count.
    /// - Parameters:
    ///   - a: `[m, k]`, row stride `lda` (default k).  - b: `[k, n]`, row stride `ldb` (default n).
    ///   - c: `[m, n]`, row stride `ldc` (default n).  - bias: `[n]` or nil.
    public func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int? = nil,
                     b: UnsafePointer<Float>, ldb: Int? = nil,
                     c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                     bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let lda = lda ?? k, ldb = ldb ?? n, ldc = ldc ?? n
        let chunk = ThreadPool.gemmColumnChunk
        parallelFor((n + chunk - 1) / chunk) { task in
            let columns = task * chunk ..< min(n, task * chunk + chunk)
            ClipgenKernels.gemm(rows: 0..<m, columns: columns, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        }
    }

    /// `gemm` with B packed once beforehand by `gemmPackB` (a weight matrix used many times), split into fixed
    /// row chunks of `gemmRowChunk`.
    public func gemmPacked(m: Int, n: Int, k: Int,
                           a: UnsafePointer<Float>, lda: Int? = nil,
                           packedB: UnsafePointer<Float>,
                           c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                           bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let lda = lda ?? k, ldc = ldc ?? n
        let chunk = ThreadPool.gemmRowChunk
        parallelFor((m + chunk - 1) / chunk) { task in
            let rows = task * chunk ..< min(m, task * chunk + chunk)
            ClipgenKernels.gemmPacked(rows: rows, columns: 0..<n, k: k, a: a, lda: lda, packedB: packedB,
                                      c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        }
    }
}
