// aarch64 checks of Activations.swift: GELU / QuickGELU / SiLU, add and bias add against their scalar twins bit for
// bit, softmax within f32ReorderRelativeTolerance, and the activations against glibc's Double formulas.
import ClipgenKernels

/// Random, all-zero and huge-magnitude rows of `count` values.
private func activationInputs(_ count: Int, seed: UInt64) -> [[Float]] {
    var random = SplitMix(seed: seed)
    let huge: [Float] = [3e38, -3e38, 1e30, -1e30, 1e4, -1e4, 100, -100, 20, -20]
    var big = [Float](repeating: 0, count: count)
    for i in 0..<count { big[i] = huge[i % huge.count] }
    return [random.floats(count, -8, 8), [Float](repeating: 0, count: count), big]
}

func activationChecks() {
    var geluBad = 0, quickBad = 0, siluBad = 0, nans = 0
    for n in oddSizes {
        for input in activationInputs(n, seed: UInt64(n)) {
            let gelu = applied(input) { geluInPlace($0, count: $1) }
            let quick = applied(input) { quickGeluInPlace($0, count: $1) }
            let silu = applied(input) { siluInPlace($0, count: $1) }
            geluBad += bitMismatches(gelu, applied(input) { geluReference($0, count: $1) })
            quickBad += bitMismatches(quick, applied(input) { quickGeluReference($0, count: $1) })
            siluBad += bitMismatches(silu, applied(input) { siluReference($0, count: $1) })
            for v in gelu + quick + silu where v.isNaN { nans += 1 }
        }
    }
    let sizes = "sizes 1, 31, 33, 1023 x random / zero / huge"
    check("geluInPlace vs geluReference", geluBad == 0, geluBad == 0 ? "bit-exact, " + sizes : "\(geluBad) differ")
    check("quickGeluInPlace vs quickGeluReference", quickBad == 0,
          quickBad == 0 ? "bit-exact, " + sizes : "\(quickBad) differ")
    check("siluInPlace vs siluReference", siluBad == 0, siluBad == 0 ? "bit-exact, " + sizes : "\(siluBad) differ")
    check("activations never give NaN on finite inputs", nans == 0, "\(nans) NaN")

    // Against the formulas, error / max(|x|, 1) on [-20, 20].
    var xs = [Float](repeating: 0, count: 40_001)
    for i in 0..<xs.count { xs[i] = Float(-20 + 40 * Double(i) / 40_000) }
    let gelu = applied(xs) { geluInPlace($0, count: $1) }, quick = applied(xs) { quickGeluInPlace($0, count: $1) }
    let silu = applied(xs) { siluInPlace($0, count: $1) }
    var worstGelu = 0.0, worstQuick = 0.0, worstSilu = 0.0
    for i in 0..<xs.count {
        let d = Double(xs[i]), s = max(d.magnitude, 1)
        worstGelu = max(worstGelu, (Double(gelu[i]) - 0.5 * d * libmErfc(-d / 2.0.squareRoot())).magnitude / s)
        worstQuick = max(worstQuick, (Double(quick[i]) - d / (1 + libmExp(-1.702 * d))).magnitude / s)
        worstSilu = max(worstSilu, (Double(silu[i]) - d / (1 + libmExp(-d))).magnitude / s)
    }
    for (name, worst) in [("gelu", worstGelu), ("quickGelu", worstQuick), ("silu", worstSilu)] {
        check(name + " vs libm formula on [-20, 20]", worst <= Double(activationScaledTolerance),
              "max error / max(|x|, 1) " + sci(worst) + ", tolerance " + sci(activationScaledTolerance))
    }

    for n in oddSizes {
        var random = SplitMix(seed: 50 + UInt64(n))
        var worst: Float = 0, bound: Float = 0, sumError: Float = 0
        for row in [random.floats(n, -10, 10), [Float](repeating: 0, count: n)] {
            for scale: Float in [1, 0.125] {
                let fast = applied(row) { softmaxInPlace($0, count: $1, scale: scale) }
                let slow = applied(row) { softmaxReference($0, count: $1, scale: scale) }
                worst = max(worst, maxAbsDifference(fast, slow))
                bound = max(bound, f32ReorderRelativeTolerance * maxMagnitude(fast))
                var sum: Float = 0
                for v in fast { sum += v }
                sumError = max(sumError, (sum - 1).magnitude)
            }
        }
        check("softmaxInPlace vs softmaxReference, n \(n)", worst <= bound && sumError <= 1e-5,
              "max abs diff " + sci(worst) + ", bound " + sci(bound) + ", |sum - 1| " + sci(sumError))
    }

    var random = SplitMix(seed: 77)
    var addBad = 0
    for n in oddSizes {
        let x = random.floats(n), y = random.floats(3 * n), bias = random.floats(n)
        x.withUnsafeBufferPointer { px in
            addBad += bitMismatches(applied(Array(y[0..<n])) { addInPlace($0, px.baseAddress!, count: $1) },
                                    applied(Array(y[0..<n])) { addReference($0, px.baseAddress!, count: $1) })
        }
        bias.withUnsafeBufferPointer { pb in
            addBad += bitMismatches(
                applied(y) { p, _ in addBiasInPlace(p, bias: pb.baseAddress!, rows: 1..<3, columns: n) },
                applied(y) { p, _ in addBiasReference(p, bias: pb.baseAddress!, rows: 1..<3, columns: n) })
        }
    }
    check("addInPlace / addBiasInPlace vs twins", addBad == 0, addBad == 0 ? "bit-exact" : "\(addBad) differ")

    let big = random.floats(4096, -8, 8)
    var work = big
    work.withUnsafeMutableBufferPointer { p in
        let x = p.baseAddress!
        timeLine("gelu 4096", fast: { geluInPlace(x, count: 4096) }, reference: { geluReference(x, count: 4096) })
        timeLine("softmax 4096", fast: { softmaxInPlace(x, count: 4096) },
                 reference: { softmaxReference(x, count: 4096) })
    }
}
