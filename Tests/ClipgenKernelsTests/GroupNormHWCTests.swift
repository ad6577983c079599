// HWC GroupNorm: the SIMD16 statistics + application against the Double twin over odd channel and pixel counts,
// all-zero and large-offset inputs; applying it band by band equals applying it whole, bit for bit.
import ClipgenKernels
import Testing

/// Fast HWC GroupNorm of x [pixels, channels] over the given bands of pixels.
private func groupNormedHWC(_ x: [Float], pixels: Int, channels: Int, groups: Int, gamma: [Float], beta: [Float],
                            silu: Bool, bands: [Range<Int>]? = nil) -> [Float] {
    var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
    groupNormStatisticsHWC(x, pixels: pixels, channels: channels, groups: groups, eps: 1e-6, into: &stats)
    var y = [Float](repeating: .nan, count: x.count)
    for band in bands ?? [0..<pixels] {
        applyGroupNormHWC(x, into: &y, channels: channels, pixels: band, channelsPerGroup: channels / groups,
                          statistics: stats, gamma: gamma, beta: beta, silu: silu)
    }
    return y
}

@Test func groupNormHWCMatchesReference() {
    var worst: Float = 0
    for (channels, groups) in [(24, 6), (32, 32), (33, 3), (128, 32)] {
        for pixels in oddSizes {
            var random = SplitMixFloats(seed: 900 + UInt64(pixels * channels))
            let gamma = random.array(channels, 0.5, 1.5), beta = random.array(channels)
            let n = channels * pixels
            let inputs = [random.array(n, -3, 3), [Float](repeating: 0, count: n), random.array(n, 500, 502)]
            for x in inputs {
                for silu in [false, true] {
                    let fast = groupNormedHWC(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma,
                                              beta: beta, silu: silu)
                    var slow = [Float](repeating: .nan, count: n)
                    groupNormReferenceHWC(x, into: &slow, pixels: pixels, channels: channels, groups: groups, eps: 1e-6,
                                          gamma: gamma, beta: beta, silu: silu)
                    let d = zip(fast, slow).map { abs($0 - $1) }.max() ?? 0
                    worst = max(worst, d)
                    #expect(d <= normAbsoluteTolerance, "C \(channels) G \(groups) P \(pixels) silu \(silu): \(d)")
                }
            }
        }
    }
    print("groupNorm HWC SIMD vs Double twin: max abs difference \(worst)")
}

@Test func groupNormHWCBandsEqualWhole() {
    let channels = 48, groups = 8, pixels = 37 * 29
    var random = SplitMixFloats(seed: 12)
    let x = random.array(channels * pixels, -2, 5)
    let gamma = random.array(channels), beta = random.array(channels)
    let whole = groupNormedHWC(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta, silu: true)
    let banded = groupNormedHWC(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                silu: true, bands: [0..<37, 37..<400, 400..<401, 401..<pixels])
    #expect(whole.map(\.bitPattern) == banded.map(\.bitPattern))
}
