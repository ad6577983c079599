// aarch64 checks of GroupNormHWC.swift: HWC GroupNorm (statistics, then application, with and without SiLU) against
// its Double twin within normAbsoluteTolerance over odd sizes, zeros and a large offset; bands equal the whole.
import ClipgenKernels

private func normed(_ x: [Float], pixels: Int, channels: Int, groups: Int, gamma: [Float], beta: [Float], silu: Bool,
                    fast: Bool, bands: [Range<Int>]) -> [Float] {
    var y = [Float](repeating: .nan, count: x.count)                     // [pixels, channels]
    var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
    if fast {
        groupNormStatisticsHWC(x, pixels: pixels, channels: channels, groups: groups, eps: 1e-6, into: &stats)
        for band in bands {
            applyGroupNormHWC(x, into: &y, channels: channels, pixels: band, channelsPerGroup: channels / groups,
                              statistics: stats, gamma: gamma, beta: beta, silu: silu)
        }
    } else {
        groupNormReferenceHWC(x, into: &y, pixels: pixels, channels: channels, groups: groups, eps: 1e-6, gamma: gamma,
                              beta: beta, silu: silu)
    }
    return y
}

func groupNormHWCChecks() {
    var random = SplitMix(seed: 4242)
    for (channels, groups, pixels) in [(24, 6, 1), (33, 3, 31), (128, 32, 33), (32, 32, 1023)] {
        let gamma = random.floats(channels, 0.5, 1.5), beta = random.floats(channels)
        let n = channels * pixels
        for (name, x) in [("random", random.floats(n, -3, 3)), ("zero", [Float](repeating: 0, count: n)),
                          ("offset 500", random.floats(n, 500, 502))] {
            for silu in [false, true] {
                let cut = pixels / 2
                let fast = normed(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                  silu: silu, fast: true, bands: [0..<cut, cut..<pixels])
                let whole = normed(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                   silu: silu, fast: true, bands: [0..<pixels])
                let slow = normed(x, pixels: pixels, channels: channels, groups: groups, gamma: gamma, beta: beta,
                                  silu: silu, fast: false, bands: [])
                let label = "groupNormHWC C\(channels) G\(groups) P\(pixels) \(name)" + (silu ? " +silu" : "")
                check(label + " vs twin", maxAbsDifference(fast, slow) <= normAbsoluteTolerance,
                      "max abs \(sci(maxAbsDifference(fast, slow)))")
                check(label + " bands == whole", bitMismatches(fast, whole) == 0, bitsDetail(fast, whole))
            }
        }
    }
}
