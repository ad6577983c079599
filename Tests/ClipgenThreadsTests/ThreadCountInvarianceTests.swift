import ClipgenKernels
import ClipgenThreads
import Testing

/// Deterministic pseudo-random floats in [-1, 1).
func seededFloats(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state >> 40) / Float(1 << 23) - 1
    }
}

/// The same inputs must give bit-identical outputs at 1, 2 and 3 threads: each output element is reduced by
/// one task in a fixed order, and tasks are cut by constant chunk sizes, never by the thread count.
@Suite struct ThreadCountInvarianceTests {
    static let threadCounts = [1, 2, 3]

    @Test(arguments: [(m: 77, n: 1000, k: 515), (m: 256, n: 768, k: 64), (m: 1, n: 33, k: 7)])
    func gemmIsBitIdenticalAcrossThreadCounts(shape: (m: Int, n: Int, k: Int)) {
        let (m, n, k) = shape
        let a = seededFloats(m * k, seed: 1)  // [m, k]
        let b = seededFloats(k * n, seed: 2)  // [k, n]
        let bias = seededFloats(n, seed: 3)   // [n]
        var results: [[Float]] = []
        for threads in Self.threadCounts {
            let pool = ThreadPool(threads: threads)
            var c = [Float](repeating: 0, count: m * n)  // [m, n]
            pool.gemm(m: m, n: n, k: k, a: a, b: b, c: &c, bias: bias)
            results.append(c)
        }
        for r in results.dropFirst() { #expect(r.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        var reference = [Float](repeating: 0, count: m * n)
        gemmReference(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &reference, ldc: n, bias: bias)
        #expect(results[0].map(\.bitPattern) == reference.map(\.bitPattern))
    }

    @Test func packedGemmIsBitIdenticalAcrossThreadCounts() {
        let (m, n, k) = (200, 96, 130)
        let a = seededFloats(m * k, seed: 4)
        let b = seededFloats(k * n, seed: 5)
        var packed = [Float](repeating: 0, count: gemmPackedBCount(k: k, n: n))
        gemmPackB(k: k, n: n, b: b, ldb: n, into: &packed)
        var results: [[Float]] = []
        for threads in Self.threadCounts {
            var c = [Float](repeating: 0, count: m * n)
            ThreadPool(threads: threads).gemmPacked(m: m, n: n, k: k, a: a, packedB: packed, c: &c)
            results.append(c)
        }
        for r in results.dropFirst() { #expect(r.map(\.bitPattern) == results[0].map(\.bitPattern)) }
    }
}
