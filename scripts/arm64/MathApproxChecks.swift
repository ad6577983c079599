// aarch64 checks of MathApprox.swift: fastExp / fastErf / fastErfc / fastSigmoid against glibc's Double libm within
// their named tolerances (the arm64 build always fuses multiply-adds), and SIMD16 against scalar bit for bit.
import ClipgenKernels

/// Evenly spaced grid over [lo, hi], endpoints included.
private func grid(_ lo: Float, _ hi: Float, _ count: Int) -> [Float] {
    var xs = [Float](repeating: 0, count: count + 1)
    for i in 0...count { xs[i] = lo + (hi - lo) * Float(i) / Float(count) }
    return xs
}

/// Largest relative error of `f` against `reference` (reference zeros compared absolutely).
private func maxRelativeError(_ xs: [Float], _ f: (Float) -> Float, _ reference: (Double) -> Double) -> Double {
    var worst = 0.0
    for x in xs {
        let want = reference(Double(x)), got = Double(f(x))
        let error = want == 0 ? got.magnitude : (got - want).magnitude / want.magnitude
        worst = error.isNaN ? .infinity : max(worst, error)
    }
    return worst
}

/// Inputs where the SIMD16 version differs in bits from the scalar one (NaN equals NaN).
private func simdMismatches(_ xs: [Float], _ scalar: (Float) -> Float,
                            _ vector: (SIMD16<Float>) -> SIMD16<Float>) -> Int {
    var bad = 0, i = 0
    while i + 16 <= xs.count {
        var v = SIMD16<Float>()
        for l in 0..<16 { v[l] = xs[i + l] }
        let r = vector(v)
        for l in 0..<16 {
            let w = scalar(xs[i + l])
            if r[l].bitPattern != w.bitPattern && !(r[l].isNaN && w.isNaN) { bad += 1 }
        }
        i += 16
    }
    return bad
}

private func accuracy(_ name: String, _ worst: Double, _ tolerance: Float) {
    check(name, worst <= Double(tolerance), "max relative error " + sci(worst) + ", tolerance " + sci(tolerance))
}

func mathApproxChecks() {
    accuracy("fastExp vs libm exp on [-87, 88.72]",
             maxRelativeError(grid(-87, 88.72, 200_000) + grid(-1, 1, 20_000), { fastExp($0) }, { libmExp($0) }),
             fastExpRelativeTolerance)
    accuracy("fastErf vs libm erf on [-10, 10]",
             maxRelativeError(grid(-10, 10, 200_000) + grid(-1e-3, 1e-3, 2_000), { fastErf($0) }, { libmErf($0) }),
             fastErfRelativeTolerance)
    accuracy("fastErfc vs libm erfc on [-10, 9]",
             maxRelativeError(grid(-10, 9, 200_000), { fastErfc($0) }, { libmErfc($0) }), fastErfcRelativeTolerance)
    accuracy("fastSigmoid vs libm logistic on [-87, 87]",
             maxRelativeError(grid(-87, 87, 200_000), { fastSigmoid($0) }, { 1 / (1 + libmExp(-$0)) }),
             fastSigmoidRelativeTolerance)
    let specials = fastExp(.infinity) == .infinity && fastExp(-.infinity) == 0 && fastExp(Float.nan).isNaN
        && fastErf(.infinity) == 1 && fastErfc(-.infinity) == 2 && fastSigmoid(0) == 0.5 && fastSigmoid(-100) == 0
    check("fastExp / fastErf / fastErfc / fastSigmoid special values", specials)

    var random = SplitMix(seed: 7)
    var xs = grid(-120, 120, 16_000 - 1) + random.floats(1_600, -1e4, 1e4)
    xs += [0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, 88.72, -87, 0.875, -0.875, 10, -10, 1e38,
           -1e38, 3, 1]
    let bad = simdMismatches(xs, { fastExp($0) }, { fastExp($0) }) + simdMismatches(xs, { fastErf($0) }, { fastErf($0) })
        + simdMismatches(xs, { fastErfc($0) }, { fastErfc($0) })
        + simdMismatches(xs, { fastSigmoid($0) }, { fastSigmoid($0) })
    check("fast math SIMD16 vs scalar", bad == 0, bad == 0 ? "bit-exact over \(xs.count) inputs" : "\(bad) differ")
}
