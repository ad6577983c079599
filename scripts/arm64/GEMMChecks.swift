// aarch64 checks of GEMM.swift: `gemm` and `gemmPacked` against `gemmReference`, bit for bit (both run one fused
// multiply-add chain per element), over odd sizes, strides, bias / accumulate, K = 0 and row / column splits.
import ClipgenKernels

/// C of `gemmReference` or of `body` (which writes C given A, B and C pointers) on fresh copies of the inputs.
private func product(_ a: [Float], _ b: [Float], _ c: [Float],
                     _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
    var c = c
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { body(pa.baseAddress!, pb.baseAddress!, $0.baseAddress!) }
        }
    }
    return c
}

/// One GEMM case: m x n x k with padded strides, optional bias and accumulation.
private func gemmCase(m: Int, n: Int, k: Int, pad: Int, bias useBias: Bool, accumulate: Bool, seed: UInt64,
                      zeros: Bool = false) {
    var random = SplitMix(seed: seed)
    let lda = k + pad, ldb = n + pad, ldc = n + pad
    let a = zeros ? [Float](repeating: 0, count: max(1, m * lda)) : random.floats(max(1, m * lda))   // [m, lda]
    let b = random.floats(max(1, k * ldb))                                                            // [k, ldb]
    let c0 = random.floats(max(1, m * ldc))                                                           // [m, ldc]
    let biasValues = random.floats(n)                                                                 // [n]
    let name = "gemm \(m)x\(n)x\(k)" + (pad > 0 ? " strided" : "") + (useBias ? " bias" : "")
        + (accumulate ? " accumulate" : "") + (zeros ? " zero-A" : "")
    biasValues.withUnsafeBufferPointer { pbias in
        let bias = useBias ? pbias.baseAddress : nil
        let want = product(a, b, c0) {
            gemmReference(m: m, n: n, k: k, a: $0, lda: lda, b: $1, ldb: ldb, c: $2, ldc: ldc, bias: bias,
                          accumulate: accumulate)
        }
        let fast = product(a, b, c0) {
            gemm(m: m, n: n, k: k, a: $0, lda: lda, b: $1, ldb: ldb, c: $2, ldc: ldc, bias: bias,
                 accumulate: accumulate)
        }
        check(name + " vs gemmReference", bitMismatches(fast, want) == 0, bitsDetail(fast, want))
        // The same product in four blocks of an uneven row and column split, from B packed once.
        var packed = [Float](repeating: 0, count: max(1, gemmPackedBCount(k: k, n: n)))
        b.withUnsafeBufferPointer { pb in
            packed.withUnsafeMutableBufferPointer { gemmPackB(k: k, n: n, b: pb.baseAddress!, ldb: ldb, into: $0.baseAddress!) }
        }
        let rowCut = m / 2 + 1 > m ? m : m / 2 + 1, columnCut = n / 3 + 1 > n ? n : n / 3 + 1
        let split = product(a, packed, c0) { pa, pp, pc in
            for rows in [0..<rowCut, rowCut..<m] {
                for columns in [0..<columnCut, columnCut..<n] {
                    gemmPacked(rows: rows, columns: columns, k: k, a: pa, lda: lda, packedB: pp, c: pc, ldc: ldc,
                               bias: bias, accumulate: accumulate)
                }
            }
        }
        check(name + " packed B, 2x2 split vs gemmReference", bitMismatches(split, want) == 0, bitsDetail(split, want))
    }
}

func gemmChecks() {
    var seed: UInt64 = 100
    let shapes: [(Int, Int, Int)] = [(33, 65, 31), (1, 1, 1), (31, 33, 1023), (8, 16, 257), (17, 1, 33), (5, 9, 0)]
    for (m, n, k) in shapes {
        for (useBias, accumulate) in [(false, false), (true, false), (true, true)] {
            seed += 1
            gemmCase(m: m, n: n, k: k, pad: 0, bias: useBias, accumulate: accumulate, seed: seed)
        }
    }
    gemmCase(m: 33, n: 65, k: 31, pad: 3, bias: true, accumulate: false, seed: 200)
    gemmCase(m: 33, n: 65, k: 31, pad: 0, bias: false, accumulate: false, seed: 201, zeros: true)

    var random = SplitMix(seed: 300)
    let (m, n, k) = (64, 128, 256)
    let a = random.floats(m * k), b = random.floats(k * n)   // [m, k], [k, n]
    var c = [Float](repeating: 0, count: m * n)              // [m, n]
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                let (ap, bp, cp) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                timeLine("gemm \(m)x\(n)x\(k)",
                         fast: { gemm(m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: n, c: cp, ldc: n) },
                         reference: { gemmReference(m: m, n: n, k: k, a: ap, lda: k, b: bp, ldb: n, c: cp, ldc: n) })
            }
        }
    }
}
