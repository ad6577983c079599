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

/// Q8_0 products through the pool: same bits at 1, 2 and 3 threads, equal to the scalar reference.
@Suite struct Q8ThreadCountInvarianceTests {
    /// A row-major Q8_0 matrix quantised from seeded floats.  // [rows, columns] Q8_0
    static func matrix(rows: Int, columns: Int) -> [UInt8] {
        let values = seededFloats(rows * columns, seed: 11)
        var bytes = [UInt8](repeating: 0, count: rows * Q8_0.rowBytes(columns: columns))
        values.withUnsafeBufferPointer { v in
            bytes.withUnsafeMutableBytes { out in
                for r in 0..<rows {
                    quantizeRowQ8_0Reference(v.baseAddress! + r * columns, count: columns,
                                             into: out.baseAddress! + r * Q8_0.rowBytes(columns: columns))
                }
            }
        }
        return bytes
    }

    @Test(arguments: [(rows: 200, columns: 512), (rows: 33, columns: 96), (rows: 1, columns: 32)])
    func gemvIsBitIdenticalAcrossThreadCounts(shape: (rows: Int, columns: Int)) {
        let (rows, columns) = shape
        let weights = Self.matrix(rows: rows, columns: columns)
        let x = seededFloats(columns, seed: 12)  // [columns]
        let activations = Q8Activations(columns: columns)
        x.withUnsafeBufferPointer { activations.quantize($0.baseAddress!) }
        var results: [[Float]] = []
        for threads in ThreadCountInvarianceTests.threadCounts {
            var y = [Float](repeating: 0, count: rows)  // [rows]
            weights.withUnsafeBytes {
                ThreadPool(threads: threads).q8MatVec(weights: $0.baseAddress!, rows: rows, columns: columns,
                                                      activations: activations, into: &y)
            }
            results.append(y)
        }
        for r in results.dropFirst() { #expect(r.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        var reference = [Float](repeating: 0, count: rows)
        weights.withUnsafeBytes {
            gemvQ8_0Reference(weights: $0.baseAddress!, columns: columns, rows: 0..<rows, input: x, output: &reference)
        }
        #expect(results[0].map(\.bitPattern) == reference.map(\.bitPattern))
    }

    @Test func batchedProductIsBitIdenticalAcrossThreadCountsAndEqualsSingleVectors() {
        let (rows, columns, batch) = (130, 256, 5)
        let weights = Self.matrix(rows: rows, columns: columns)
        let activations = Q8Activations(columns: columns, batch: batch)
        for j in 0..<batch {
            seededFloats(columns, seed: UInt64(20 + j)).withUnsafeBufferPointer {
                activations.quantize($0.baseAddress!, index: j)
            }
        }
        var results: [[Float]] = []
        for threads in ThreadCountInvarianceTests.threadCounts {
            var y = [Float](repeating: 0, count: batch * rows)  // [batch, rows]
            weights.withUnsafeBytes {
                ThreadPool(threads: threads).q8MatMul(weights: $0.baseAddress!, rows: rows, columns: columns,
                                                      activations: activations, into: &y)
            }
            results.append(y)
        }
        for r in results.dropFirst() { #expect(r.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        for j in 0..<batch {
            let single = Q8Activations(columns: columns)
            seededFloats(columns, seed: UInt64(20 + j)).withUnsafeBufferPointer { single.quantize($0.baseAddress!) }
            var y = [Float](repeating: 0, count: rows)
            weights.withUnsafeBytes {
                ThreadPool(threads: 2).q8MatVec(weights: $0.baseAddress!, rows: rows, columns: columns,
                                                activations: single, into: &y)
            }
            #expect(Array(results[0][j * rows ..< (j + 1) * rows]).map(\.bitPattern) == y.map(\.bitPattern))
        }
    }
}
