// Tests of LayerNorm and GroupNorm: SIMD16 kernels against Double-statistics scalar twins over odd sizes, all-zero
// and large-offset inputs; GroupNorm statistics gathered band by band and over HW = 65536.
import Testing
import ClipgenKernels

/// Largest |a - b| over two equal-length arrays.
private func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// LayerNorm of `x` ([rows, columns]) by the fast kernel or the reference twin.
private func layerNormed(_ x: [Float], _ gamma: [Float], _ beta: [Float], columns: Int, fast: Bool) -> [Float] {
    var y = [Float](repeating: .nan, count: x.count)
    y.withUnsafeMutableBufferPointer { out in
        if fast {
            layerNorm(x, into: out.baseAddress!, gamma: gamma, beta: beta, columns: columns,
                      rows: 0..<x.count / columns, eps: 1e-5)
        } else {
            layerNormReference(x, into: out.baseAddress!, gamma: gamma, beta: beta, columns: columns,
                               rows: 0..<x.count / columns, eps: 1e-5)
        }
    }
    return y
}

@Test func layerNormMatchesReferenceOverOddSizes() {
    var worst: Float = 0
    for n in oddSizes {
        var random = SplitMixFloats(seed: 500 + UInt64(n))
        let gamma = random.array(n, 0.5, 1.5), beta = random.array(n)
        let noise = random.array(3 * n, -1, 1)
        let inputs: [[Float]] = [random.array(3 * n, -4, 4), [Float](repeating: 0, count: 3 * n),
                                 noise.map { 1e4 + $0 }, random.array(3 * n, -3e4, 3e4)]
        for x in inputs {
            let fast = layerNormed(x, gamma, beta, columns: n, fast: true)
            let slow = layerNormed(x, gamma, beta, columns: n, fast: false)
            worst = max(worst, maxAbsDifference(fast, slow))
            #expect(maxAbsDifference(fast, slow) <= normAbsoluteTolerance)
            #expect(fast.allSatisfy { !$0.isNaN })
        }
        // All-zero rows (and rows of one column) have zero variance: the output is beta.
        let zero = layerNormed([Float](repeating: 0, count: 3 * n), gamma, beta, columns: n, fast: true)
        #expect(zero == beta + beta + beta)
    }
    print("layerNorm SIMD vs Double twin: max abs difference \(worst)")
}

@Test func layerNormWorksInPlace() {
    var random = SplitMixFloats(seed: 9)
    let n = 77, x = random.array(4 * n), gamma = random.array(n), beta = random.array(n)
    var inPlace = x
    inPlace.withUnsafeMutableBufferPointer {
        layerNorm($0.baseAddress!, into: $0.baseAddress!, gamma: gamma, beta: beta, columns: n, rows: 0..<4, eps: 1e-5)
    }
    #expect(inPlace == layerNormed(x, gamma, beta, columns: n, fast: true))
}

/// Fast GroupNorm (statistics, then application) of x [channels, spatial].
private func groupNormed(_ x: [Float], channels: Int, spatial: Int, groups: Int, eps: Float, gamma: [Float],
                         beta: [Float], silu: Bool) -> [Float] {
    var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
    groupNormStatistics(x, channels: channels, spatial: spatial, groups: groups, eps: eps, into: &stats)
    var y = [Float](repeating: .nan, count: x.count)
    applyGroupNorm(x, xStride: spatial, into: &y, yStride: spatial, columns: spatial, channels: 0..<channels,
                   channelsPerGroup: channels / groups, statistics: stats, gamma: gamma, beta: beta, silu: silu)
    return y
}

@Test func groupNormMatchesReferenceOverOddSizes() {
    let channels = 24, groups = 6
    var worst: Float = 0
    for spatial in oddSizes {
        var random = SplitMixFloats(seed: 700 + UInt64(spatial))
        let gamma = random.array(channels, 0.5, 1.5), beta = random.array(channels)
        let n = channels * spatial
        let inputs: [[Float]] = [random.array(n, -3, 3), [Float](repeating: 0, count: n), random.array(n, 500, 502)]
        for x in inputs {
            for silu in [false, true] {
                let fast = groupNormed(x, channels: channels, spatial: spatial, groups: groups, eps: 1e-6,
                                       gamma: gamma, beta: beta, silu: silu)
                var slow = [Float](repeating: .nan, count: x.count)
                groupNormReference(x, into: &slow, channels: channels, spatial: spatial, groups: groups, eps: 1e-6,
                                   gamma: gamma, beta: beta, silu: silu)
                worst = max(worst, maxAbsDifference(fast, slow))
                #expect(maxAbsDifference(fast, slow) <= normAbsoluteTolerance)
            }
        }
    }
    print("groupNorm SIMD vs Double twin: max abs difference \(worst)")
}

@Test func groupNormAppliedBandByBandEqualsWholeTensor() {
    // A decoder working in horizontal bands: statistics gathered over bands, applied band by band into band buffers.
    let channels = 16, groups = 4, width = 37, height = 29, spatial = width * height
    var random = SplitMixFloats(seed: 11)
    let x = random.array(channels * spatial, -2, 5)
    let gamma = random.array(channels), beta = random.array(channels)
    let whole = groupNormed(x, channels: channels, spatial: spatial, groups: groups, eps: 1e-5, gamma: gamma,
                            beta: beta, silu: true)
    var moments = [GroupMoments](repeating: GroupMoments(), count: groups)
    let bands = [0..<5, 5..<17, 17..<29]
    for band in bands {
        x.withUnsafeBufferPointer { p in
            accumulateGroupMoments(p.baseAddress! + band.lowerBound * width, channelStride: spatial,
                                   columns: band.count * width, channelsPerGroup: channels / groups,
                                   groups: 0..<groups, into: &moments)
        }
    }
    let banded = moments.map { GroupStatistics($0, eps: 1e-5) }
    var stats = banded
    groupNormStatistics(x, channels: channels, spatial: spatial, groups: groups, eps: 1e-5, into: &stats)
    for (b, w) in zip(banded, stats) {
        #expect(abs(b.mean + b.meanResidual - w.mean - w.meanResidual) <= 1e-6 && abs(b.rstd - w.rstd) <= 1e-6)
    }
    var output = [Float](repeating: .nan, count: x.count)
    for band in bands {
        var bandOut = [Float](repeating: .nan, count: channels * band.count * width)   // [channels, bandHW]
        x.withUnsafeBufferPointer { p in
            applyGroupNorm(p.baseAddress! + band.lowerBound * width, xStride: spatial, into: &bandOut,
                           yStride: band.count * width, columns: band.count * width, channels: 0..<channels,
                           channelsPerGroup: channels / groups, statistics: stats, gamma: gamma, beta: beta,
                           silu: true)
        }
        for c in 0..<channels {
            for i in 0..<band.count * width {
                output[c * spatial + band.lowerBound * width + i] = bandOut[c * band.count * width + i]
            }
        }
    }
    #expect(output == whole)
}

@Test func groupNormStatisticsAreAccurateAtHW65536() {
    // taming's highest-resolution GroupNorm: 128 channels, 32 groups, 256 x 256, here with a mean offset of 3.
    let channels = 128, groups = 32, spatial = 65_536
    var random = SplitMixFloats(seed: 12)
    let x = (0..<channels * spatial).map { _ in 3 + random.uniform(-1, 1) * random.uniform(0, 1) }
    var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
    groupNormStatistics(x, channels: channels, spatial: spatial, groups: groups, eps: 1e-6, into: &stats)
    var worstMean = 0.0, worstRstd = 0.0
    let n = channels / groups * spatial
    for g in 0..<groups {
        var sum = 0.0, squares = 0.0
        for i in g * n..<(g + 1) * n { sum += Double(x[i]) }
        let m = sum / Double(n)
        for i in g * n..<(g + 1) * n { squares += (Double(x[i]) - m) * (Double(x[i]) - m) }
        let r = 1 / (squares / Double(n) + 1e-6).squareRoot()
        worstMean = max(worstMean, abs(Double(stats[g].mean) + Double(stats[g].meanResidual) - m) / abs(m))
        worstRstd = max(worstRstd, abs(Double(stats[g].rstd) - r) / r)
    }
    print("GroupNorm statistics at HW 65536: max relative error mean \(worstMean) rstd \(worstRstd)")
    #expect(worstMean <= Double(groupStatisticsRelativeTolerance))
    #expect(worstRstd <= Double(groupStatisticsRelativeTolerance))
}
