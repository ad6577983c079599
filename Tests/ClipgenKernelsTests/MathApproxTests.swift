// Tests of the exp / erf / erfc / sigmoid approximations against Foundation's Double functions, and of the
// scalar and SIMD16 versions agreeing bit for bit. Measured maxima are printed (run `swift test -c release`).
import Foundation
import Testing
import ClipgenKernels

/// Seeded SplitMix64 stream of test values (tests must not depend on the system generator).
struct SplitMixFloats {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    /// Next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    /// `count` uniform values in [lo, hi).
    mutating func array(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
        (0..<count).map { _ in uniform(lo, hi) }
    }
}

/// Evenly spaced Float grid over [lo, hi], plus the endpoints.
private func grid(_ lo: Float, _ hi: Float, _ count: Int) -> [Float] {
    (0...count).map { lo + (hi - lo) * Float($0) / Float(count) }
}

/// Largest relative error of `f` against `reference` over `xs` (reference values of 0 compared absolutely).
private func maxRelativeError(_ xs: [Float], _ f: (Float) -> Float, _ reference: (Double) -> Double) -> Double {
    var worst = 0.0
    for x in xs {
        let want = reference(Double(x))
        let got = Double(f(x))
        let error = want == 0 ? abs(got) : abs(got - want) / abs(want)
        worst = max(worst, error)
    }
    return worst
}

/// Inputs on which the SIMD16 version of `scalar` gives different bits (at most 5 reported).
private func simdMismatches(_ xs: [Float], _ scalar: (Float) -> Float,
                            _ vector: (SIMD16<Float>) -> SIMD16<Float>) -> [Float] {
    var bad: [Float] = []
    var i = 0
    while i + 16 <= xs.count {
        let v = vector(SIMD16(xs[i..<i + 16]))
        for l in 0..<16 {
            let w = scalar(xs[i + l])
            let same = v[l].bitPattern == w.bitPattern || (v[l].isNaN && w.isNaN)
            if !same && bad.count < 5 { bad.append(xs[i + l]) }
        }
        i += 16
    }
    return bad
}

@Test func expMatchesDoubleExpOverNormalRange() {
    let xs = grid(-87, 88.72, 2_000_000) + grid(-1, 1, 200_000)
    let worst = maxRelativeError(xs, fastExp) { Foundation.exp($0) }
    print("fastExp max relative error on [-87, 88.72]: \(worst)")
    #expect(worst <= Double(fastExpRelativeTolerance))
}

@Test func expExtremesAreSane() {
    #expect(fastExp(0) == 1)
    #expect(fastExp(88.72) < Float.infinity)
    #expect(fastExp(88.73) == .infinity)
    #expect(fastExp(1e30) == .infinity)
    #expect(fastExp(.infinity) == .infinity)
    #expect(fastExp(-87.5) == 0)
    #expect(fastExp(-1e30) == 0)
    #expect(fastExp(-.infinity) == 0)
    #expect(fastExp(.nan).isNaN)
    for x in grid(-200, 200, 100_000) { #expect(!fastExp(x).isNaN && fastExp(x) >= 0) }
    let v = fastExp(SIMD16<Float>(repeating: .nan))
    #expect(v[3].isNaN)
}

@Test func erfMatchesDoubleErf() {
    let xs = grid(-10, 10, 2_000_000) + grid(-1e-3, 1e-3, 20_000) + [1e-30, -1e-30, 1e-38, 0.875, -0.875]
    let worst = maxRelativeError(xs, fastErf) { Foundation.erf($0) }
    print("fastErf max relative error on [-10, 10]: \(worst)")
    #expect(worst <= Double(fastErfRelativeTolerance))
    #expect(fastErf(.infinity) == 1 && fastErf(-.infinity) == -1 && fastErf(.nan).isNaN)
    #expect(fastErf(0) == 0 && fastErf(-0.0).sign == .minus)
}

@Test func erfcMatchesDoubleErfcWhereRepresentable() {
    // erfc(9) = 4.1e-37; beyond ~9.1 the true value falls below the smallest normal Float and flushes to 0.
    let xs = grid(-10, 9, 2_000_000)
    let worst = maxRelativeError(xs, fastErfc) { Foundation.erfc($0) }
    print("fastErfc max relative error on [-10, 9]: \(worst)")
    #expect(worst <= Double(fastErfcRelativeTolerance))
    #expect(fastErfc(.infinity) == 0 && fastErfc(-.infinity) == 2 && fastErfc(20) == 0 && fastErfc(.nan).isNaN)
}

@Test func sigmoidMatchesDoubleLogistic() {
    let xs = grid(-87, 87, 2_000_000)
    let worst = maxRelativeError(xs, fastSigmoid) { 1 / (1 + Foundation.exp(-$0)) }
    print("fastSigmoid max relative error on [-87, 87]: \(worst)")
    #expect(worst <= Double(fastSigmoidRelativeTolerance))
    #expect(fastSigmoid(.infinity) == 1 && fastSigmoid(-.infinity) == 0 && fastSigmoid(0) == 0.5)
    #expect(fastSigmoid(1e30) == 1 && fastSigmoid(-1e30) == 0 && fastSigmoid(-100) == 0)
    #expect(fastSigmoid(.nan).isNaN)
}

@Test func simdApproximationsMatchScalarBitForBit() {
    var random = SplitMixFloats(seed: 7)
    let xs = grid(-120, 120, 160_000 - 1) + grid(-2, 2, 16_000 - 1) + random.array(16_000, -1e4, 1e4)
        + [0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 88.72, -87]
        + [0.875, -0.875, 10, -10, 1e38, -1e38, 3]
    let exp = simdMismatches(xs, fastExp, fastExp), erf = simdMismatches(xs, fastErf, fastErf)
    let erfc = simdMismatches(xs, fastErfc, fastErfc), sigmoid = simdMismatches(xs, fastSigmoid, fastSigmoid)
    #expect(exp.isEmpty)
    #expect(erf.isEmpty)
    #expect(erfc.isEmpty)
    #expect(sigmoid.isEmpty)
}
