import Testing
import ClipgenKernels

/// A heap matrix with a fixed pseudo-random fill in [-1, 1) (or zeros), freed by `deallocate`.
private struct Matrix {
    let p: UnsafeMutablePointer<Float>
    let count: Int

    init(_ count: Int, seed: UInt32, zero: Bool = false) {
        self.count = max(count, 1)
        p = .allocate(capacity: self.count)
        var state = seed
        for i in 0..<self.count {
            state = state &* 1_664_525 &+ 1_013_904_223
            p[i] = zero ? 0 : Float(Int32(bitPattern: state) >> 8) / 8_388_608
        }
    }

    func copy() -> Matrix {
        let m = Matrix(count, seed: 0)
        m.p.update(from: p, count: count)
        return m
    }

    func bitsEqual(_ other: Matrix) -> Bool {
        (0..<count).allSatisfy { p[$0].bitPattern == other.p[$0].bitPattern }
    }

    func deallocate() { p.deallocate() }
}

/// One product's operands with padded leading dimensions (lda > k etc.) to catch stride mix-ups.
private struct Problem {
    let m, n, k, lda, ldb, ldc: Int
    let a, b, c, bias: Matrix

    init(m: Int, n: Int, k: Int, zeroA: Bool = false, seed: UInt32 = 1) {
        self.m = m; self.n = n; self.k = k
        lda = k + 3; ldb = n + 5; ldc = n + 2
        a = Matrix(m * lda, seed: seed, zero: zeroA)
        b = Matrix(k * ldb, seed: seed &+ 1)
        c = Matrix(m * ldc, seed: seed &+ 2)
        bias = Matrix(n, seed: seed &+ 3)
    }

    func deallocate() { a.deallocate(); b.deallocate(); c.deallocate(); bias.deallocate() }

    /// C after the reference kernel, starting from this problem's C.
    func reference(bias useBias: Bool, accumulate: Bool) -> Matrix {
        let out = c.copy()
        gemmReference(m: m, n: n, k: k, a: a.p, lda: lda, b: b.p, ldb: ldb, c: out.p, ldc: ldc,
                      bias: useBias ? bias.p : nil, accumulate: accumulate)
        return out
    }

    /// C after the fast kernel run as blocks of `rowChunk` x `columnChunk`, starting from this problem's C.
    func fast(bias useBias: Bool, accumulate: Bool, rowChunk: Int? = nil, columnChunk: Int? = nil,
              prepacked: Bool = false) -> Matrix {
        let out = c.copy()
        let packed = Matrix(gemmPackedBCount(k: k, n: n), seed: 0)
        defer { packed.deallocate() }
        if prepacked { gemmPackB(k: k, n: n, b: b.p, ldb: ldb, into: packed.p) }
        let rc = rowChunk ?? max(m, 1), cc = columnChunk ?? max(n, 1)
        for i in stride(from: 0, to: m, by: rc) {
            for j in stride(from: 0, to: n, by: cc) {
                let rows = i..<min(i + rc, m), columns = j..<min(j + cc, n)
                if prepacked {
                    gemmPacked(rows: rows, columns: columns, k: k, a: a.p, lda: lda, packedB: packed.p,
                               c: out.p, ldc: ldc, bias: useBias ? bias.p : nil, accumulate: accumulate)
                } else {
                    gemm(rows: rows, columns: columns, k: k, a: a.p, lda: lda, b: b.p, ldb: ldb,
                         c: out.p, ldc: ldc, bias: useBias ? bias.p : nil, accumulate: accumulate)
                }
            }
        }
        return out
    }
}

@Suite struct GEMMTests {
    static let sizes = [1, 7, 31, 33, 65, 257]

    @Test func fastMatchesReferenceBitForBit() {
        for m in Self.sizes {
            for n in Self.sizes {
                for k in Self.sizes where m * n * k <= 257 * 257 * 65 {
                    let problem = Problem(m: m, n: n, k: k)
                    defer { problem.deallocate() }
                    let useBias = (m + n + k) % 2 == 0, accumulate = (m + k) % 3 == 0
                    let want = problem.reference(bias: useBias, accumulate: accumulate)
                    let got = problem.fast(bias: useBias, accumulate: accumulate)
                    #expect(got.bitsEqual(want), "m \(m) n \(n) k \(k) bias \(useBias) accumulate \(accumulate)")
                    want.deallocate(); got.deallocate()
                }
            }
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func everyStartValueMode(useBias: Bool, accumulate: Bool) {
        let problem = Problem(m: 33, n: 65, k: 300)  // k > one K block
        defer { problem.deallocate() }
        let want = problem.reference(bias: useBias, accumulate: accumulate)
        let got = problem.fast(bias: useBias, accumulate: accumulate)
        let packed = problem.fast(bias: useBias, accumulate: accumulate, prepacked: true)
        #expect(got.bitsEqual(want))
        #expect(packed.bitsEqual(want))
        want.deallocate(); got.deallocate(); packed.deallocate()
    }

    @Test func zeroInputsGiveTheStartValuesExactly() {
        let problem = Problem(m: 31, n: 33, k: 257, zeroA: true)
        defer { problem.deallocate() }
        let out = problem.fast(bias: true, accumulate: false)
        defer { out.deallocate() }
        for i in 0..<31 {
            for j in 0..<33 { #expect(out.p[i * problem.ldc + j] == problem.bias.p[j]) }
        }
        let zeroK = Problem(m: 7, n: 31, k: 0)
        defer { zeroK.deallocate() }
        let want = zeroK.reference(bias: true, accumulate: true)
        let got = zeroK.fast(bias: true, accumulate: true)
        #expect(got.bitsEqual(want))
        want.deallocate(); got.deallocate()
    }

    @Test func anyChunkingIsBitIdentical() {
        let problem = Problem(m: 65, n: 257, k: 513)
        defer { problem.deallocate() }
        let whole = problem.fast(bias: true, accumulate: false)
        defer { whole.deallocate() }
        let splits: [(Int?, Int?)] = [(1, nil), (5, nil), (gemmTileRows, nil), (13, 40), (nil, 3),
                                      (nil, gemmTileColumns), (nil, 37), (64, 100)]
        for (rowChunk, columnChunk) in splits {
            for prepacked in [false, true] {
                let got = problem.fast(bias: true, accumulate: false, rowChunk: rowChunk, columnChunk: columnChunk,
                                       prepacked: prepacked)
                #expect(got.bitsEqual(whole), "rows \(String(describing: rowChunk)) columns \(String(describing: columnChunk)) prepacked \(prepacked)")
                got.deallocate()
            }
        }
    }

    @Test func referenceIsAccurate() {
        let problem = Problem(m: 7, n: 33, k: 1023)
        defer { problem.deallocate() }
        let got = problem.reference(bias: false, accumulate: false)
        defer { got.deallocate() }
        for i in 0..<problem.m {
            for j in 0..<problem.n {
                var exact = 0.0, magnitude = 0.0
                for kk in 0..<problem.k {
                    let t = Double(problem.a.p[i * problem.lda + kk]) * Double(problem.b.p[kk * problem.ldb + j])
                    exact += t; magnitude += abs(t)
                }
                let bound = Double(f32DotProductErrorPerTerm) * Double(problem.k) * magnitude
                #expect(abs(Double(got.p[i * problem.ldc + j]) - exact) <= bound)
            }
        }
    }
}
