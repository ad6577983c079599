// Tests of GELU, QuickGELU, SiLU, softmax and the add helpers: SIMD16 kernels against their scalar twins over odd
// sizes and all-zero and large-magnitude inputs, and against Double formulas from Foundation.
import Foundation
import Testing
import ClipgenKernels

/// Sizes every kernel is checked over (the house list: tails of 1, 15 and 1 lanes past whole vectors).
let oddSizes = [1, 31, 33, 1023]

/// Runs an in-place kernel on a copy of `input` and returns the result.
private func applied(_ input: [Float], _ kernel: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
    var x = input
    x.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, $0.count) }
    return x
}

/// Inputs covering small, typical and huge magnitudes of both signs.
private func activationInputs(_ count: Int, seed: UInt64) -> [[Float]] {
    var random = SplitMixFloats(seed: seed)
    let huge: [Float] = [3e38, -3e38, 1e30, -1e30, 1e4, -1e4, 100, -100, 20, -20]
    return [random.array(count, -8, 8), [Float](repeating: 0, count: count),
            (0..<count).map { huge[$0 % huge.count] }]
}

/// True when both arrays hold the same bits (NaN never appears in these tests).
private func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

@Test func elementwiseActivationsMatchScalarTwinsBitForBit() {
    for n in oddSizes {
        for input in activationInputs(n, seed: UInt64(n)) {
            #expect(sameBits(applied(input, geluInPlace), applied(input, geluReference)))
            #expect(sameBits(applied(input, quickGeluInPlace), applied(input, quickGeluReference)))
            #expect(sameBits(applied(input, siluInPlace), applied(input, siluReference)))
            for kernel in [geluInPlace, quickGeluInPlace, siluInPlace] as [(UnsafeMutablePointer<Float>, Int) -> Void] {
                #expect(applied(input, kernel).allSatisfy { !$0.isNaN })
            }
        }
        #expect(applied([Float](repeating: 0, count: n), geluInPlace).allSatisfy { $0 == 0 })
    }
}

@Test func activationsMatchDoubleFormulas() {
    var worstGelu = 0.0, worstQuick = 0.0, worstSilu = 0.0
    let xs = (0...200_000).map { Float(-20 + 40 * Double($0) / 200_000) }
    let gelu = applied(xs, geluInPlace), quick = applied(xs, quickGeluInPlace), silu = applied(xs, siluInPlace)
    for (i, x) in xs.enumerated() {
        let d = Double(x)
        // Errors are measured relative to max(|x|, 1): the activations are ~x on the positive side.
        let s = max(abs(d), 1)
        worstGelu = max(worstGelu, abs(Double(gelu[i]) - 0.5 * d * Foundation.erfc(-d / 2.0.squareRoot())) / s)
        worstQuick = max(worstQuick, abs(Double(quick[i]) - d / (1 + Foundation.exp(-1.702 * d))) / s)
        worstSilu = max(worstSilu, abs(Double(silu[i]) - d / (1 + Foundation.exp(-d))) / s)
    }
    print("activation max error / max(|x|, 1) on [-20, 20]: gelu \(worstGelu) quickGelu \(worstQuick)",
          "silu \(worstSilu)")
    #expect(worstGelu <= Double(activationScaledTolerance))
    #expect(worstQuick <= Double(activationScaledTolerance))
    #expect(worstSilu <= Double(activationScaledTolerance))
    // The far negative GELU tail keeps relative accuracy (no 1 + erf cancellation).
    let tail = applied([-6, -8, -10], geluInPlace)
    for (x, y) in zip([-6.0, -8, -10], tail) {
        let want = 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot())
        #expect(abs(Double(y) - want) <= 1e-5 * abs(want))
    }
}

@Test func softmaxMatchesScalarTwinAndSumsToOne() {
    for n in oddSizes {
        var random = SplitMixFloats(seed: 100 + UInt64(n))
        let rows: [[Float]] = [random.array(n, -10, 10), [Float](repeating: 0, count: n),
                               random.array(n, -3e4, 3e4), random.array(n, 1e6, 1e6 + 50)]
        for row in rows {
            for scale: Float in [1, 0.7, 2.5] {
                let fast = applied(row) { softmaxInPlace($0, count: $1, scale: scale) }
                let slow = applied(row) { softmaxReference($0, count: $1, scale: scale) }
                let diff = zip(fast, slow).map { abs($0 - $1) }.max()!
                #expect(diff <= f32ReorderRelativeTolerance * fast.max()!)
                let total = fast.reduce(0, +)
                #expect(abs(total - 1) <= 1e-5)
                #expect(fast.allSatisfy { !$0.isNaN && $0 >= 0 })
            }
        }
        let uniform = applied([Float](repeating: 0, count: n)) { softmaxInPlace($0, count: $1) }
        #expect(uniform.allSatisfy { abs($0 - 1 / Float(n)) <= 1e-7 })
    }
}

@Test func softmaxHandlesMinusInfinityAndMatchesDouble() {
    var row: [Float] = (0..<37).map { Float($0 % 7) - 3 }
    row[5] = -.infinity
    row[36] = -.infinity
    let p = applied(row) { softmaxInPlace($0, count: $1) }
    #expect(p[5] == 0 && p[36] == 0)
    let m = Double(row.max()!)
    let total = row.map { Foundation.exp(Double($0) - m) }.reduce(0, +)
    for (x, y) in zip(row, p) {
        let want = Foundation.exp(Double(x) - m) / total
        #expect(abs(Double(y) - want) <= 1e-6 * want + 1e-12)
    }
}

@Test func residualAndBiasAddsMatchScalarTwins() {
    for n in oddSizes {
        var random = SplitMixFloats(seed: 300 + UInt64(n))
        let x = random.array(n), y = random.array(n), bias = random.array(n)
        var fast = y, slow = y
        fast.withUnsafeMutableBufferPointer { addInPlace($0.baseAddress!, x, count: n) }
        slow.withUnsafeMutableBufferPointer { addReference($0.baseAddress!, x, count: n) }
        #expect(sameBits(fast, slow))
        var fastM = random.array(3 * n), slowM = fastM
        fastM.withUnsafeMutableBufferPointer { addBiasInPlace($0.baseAddress!, bias: bias, rows: 1..<3, columns: n) }
        slowM.withUnsafeMutableBufferPointer { addBiasReference($0.baseAddress!, bias: bias, rows: 1..<3, columns: n) }
        #expect(sameBits(fastM, slowM))
    }
}
