// F32 GEMM spread over the pool.

import ClipgenKernels

extension ThreadPool {
    /// C[M, N] (+)= A[M, K] @ B[K, N] (+ bias[N]), split into one column slab per thread.
    ///
    /// Every split of the kernel gives the same bits (each output element's K reduction is one chain in a fixed
    /// order, whatever block it is computed in: see `ClipgenKernels.gemm(rows:columns:...)`), so the split can
    /// follow the thread count without making results depend on it. One slab per thread packs A once per
    /// thread; fixed 128-column chunks re-packed A per chunk and ran 30% slower on 256x3072 @ 3072x768.
    /// - Parameters:
    ///   - a: `[m, k]`, row stride `lda` (default k).  - b: `[k, n]`, row stride `ldb` (default n).
    ///   - c: `[m, n]`, row stride `ldc` (default n).  - bias: `[n]` or nil.
    public func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int? = nil,
                     b: UnsafePointer<Float>, ldb: Int? = nil,
                     c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                     bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let lda = lda ?? k, ldb = ldb ?? n, ldc = ldc ?? n
        let chunk = slab(n, multipleOf: gemmTileColumns)
        parallelFor((n + chunk - 1) / chunk) { task in
            let columns = task * chunk ..< min(n, task * chunk + chunk)
            ClipgenKernels.gemm(rows: 0..<m, columns: columns, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        }
    }

    /// `gemm` with B packed once beforehand by `gemmPackB` (a weight matrix used many times), split into one
    /// row slab per thread (bit-identical for any split, as above).
    public func gemmPacked(m: Int, n: Int, k: Int,
                           a: UnsafePointer<Float>, lda: Int? = nil,
                           packedB: UnsafePointer<Float>,
                           c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                           bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let lda = lda ?? k, ldc = ldc ?? n
        let chunk = slab(m, multipleOf: gemmTileRows)
        parallelFor((m + chunk - 1) / chunk) { task in
            let rows = task * chunk ..< min(m, task * chunk + chunk)
            ClipgenKernels.gemmPacked(rows: rows, columns: 0..<n, k: k, a: a, lda: lda, packedB: packedB,
                                      c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        }
    }

    /// `count` split into `threadCount` parts, each rounded up to a multiple of `tile` (at least one tile).
    func slab(_ count: Int, multipleOf tile: Int) -> Int {
        let perThread = (count + threadCount - 1) / threadCount
        return max(tile, (perThread + tile - 1) / tile * tile)
    }
}
