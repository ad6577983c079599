// GroupNorm (+ optional SiLU) on HWC tensors [pixels, channels], the layout the convolutions read and write, so
// the VQGAN decoder never transposes. Statistics take two passes over the tensor (channel sums, then squared
// deviations from the group mean: no cancellation however large the mean); the normalisation is then one
// multiply-add per element with per-channel scale and shift, applied to any band of pixels.
//
// Summation order (fixed, so results do not depend on bands or threads): each channel is summed in Float over
// blocks of `hwcMomentBlock` consecutive pixels counted from pixel 0, and the block sums are added in Double in
// block order. `groupNormReferenceHWC` is the scalar twin (Double statistics, the plain formula).

/// Pixels per Float partial sum in the HWC statistics.
public let hwcMomentBlock = 64

/// Per-channel sums of `x - center[c]` (or of its square, with `squared`) over pixels `pixels` of an HWC tensor,
/// added into `sums` in Double, block by block (blocks of `hwcMomentBlock` pixels counted from pixel 0).
/// Centering keeps the Float partial sums small, so a large common offset costs no precision.
/// - Parameters:
///   - x: the whole tensor, `[pixelCount, channels]`.
///   - center: `[channels]`.
///   - sums: `[channels]`, accumulated into.
public func accumulateChannelSums(_ x: UnsafePointer<Float>, channels: Int, pixels: Range<Int>,
                                  center: UnsafePointer<Float>, squared: Bool, into sums: UnsafeMutablePointer<Double>) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: channels) { buffer in
        let block = buffer.baseAddress!                                   // [channels] Float partial sums
        var start = pixels.lowerBound
        while start < pixels.upperBound {
            let end = Swift.min(pixels.upperBound, (start / hwcMomentBlock + 1) * hwcMomentBlock)
            block.initialize(repeating: 0, count: channels)
            for p in start..<end {
                let row = x + p * channels                                // [channels]
                var c = 0
                while c + 16 <= channels {
                    var v = Lane16.load(row + c) - Lane16.load(center + c)
                    if squared { v *= v }
                    Lane16.store(Lane16.load(block + c) + v, block + c)
                    c += 16
                }
                while c < channels {
                    var v = row[c] - center[c]
                    if squared { v *= v }
                    block[c] += v
                    c += 1
                }
            }
            for c in 0..<channels { sums[c] += Double(block[c]) }
            start = end
        }
    }
}

/// Per-group mean and 1 / sqrt(var + eps) of an HWC tensor (biased variance, as PyTorch's GroupNorm).
/// - Parameters:
///   - x: `[pixels, channels]`.
///   - groups: divides `channels`.
///   - statistics: `[groups]`, written.
public func groupNormStatisticsHWC(_ x: UnsafePointer<Float>, pixels: Int, channels: Int, groups: Int, eps: Float,
                                   into statistics: UnsafeMutablePointer<GroupStatistics>) {
    precondition(groups >= 1 && channels % groups == 0 && pixels >= 1, "GroupNorm needs C divisible by groups")
    let perGroup = channels / groups
    let count = Double(pixels * perGroup)
    withUnsafeTemporaryAllocation(of: Double.self, capacity: channels) { sumsBuffer in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: channels) { centerBuffer in
            let sums = sumsBuffer.baseAddress!, center = centerBuffer.baseAddress!
            // Pass 1: sums of x - x[pixel 0] per channel, so the Float block sums stay small.
            sums.initialize(repeating: 0, count: channels)
            accumulateChannelSums(x, channels: channels, pixels: 0..<pixels, center: x, squared: false, into: sums)
            var means = [Double](repeating: 0, count: groups)
            for g in 0..<groups {
                var s = 0.0
                for c in g * perGroup..<(g + 1) * perGroup { s += sums[c] + Double(x[c]) * Double(pixels) }
                means[g] = s / count
                for c in g * perGroup..<(g + 1) * perGroup { center[c] = Float(means[g]) }
            }
            // Pass 2: squared deviations from the (Float-rounded) group mean.
            sums.initialize(repeating: 0, count: channels)
            accumulateChannelSums(x, channels: channels, pixels: 0..<pixels, center: center, squared: true, into: sums)
            for g in 0..<groups {
                var s = 0.0
                for c in g * perGroup..<(g + 1) * perGroup { s += sums[c] }
                // Deviations were taken from the Float-rounded mean; correct the variance for that offset.
                let offset = Double(Float(means[g])) - means[g]
                let variance = Swift.max(s / count - offset * offset, 0)
                statistics[g] = GroupStatistics(mean: means[g], rstd: Float(1 / (variance + Double(eps)).squareRoot()))
            }
        }
    }
}

/// Normalises pixels `pixels` of an HWC tensor: y = (x - mean[g]) * rstd[g] * gamma[c] + beta[c], then with
/// `silu` y * sigmoid(y). `y` may equal `x`. Elementwise, so any band split gives the same bits.
/// - Parameters:
///   - x: `[pixelCount, channels]`; `y` the same shape (pixel p at `y + p * channels`).
///   - statistics: `[channels / channelsPerGroup]`.  - gamma, beta: `[channels]`.
public func applyGroupNormHWC(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, channels: Int,
                              pixels: Range<Int>, channelsPerGroup: Int, statistics: UnsafePointer<GroupStatistics>,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, silu: Bool) {
    // (x - mean) first, then scale and shift: folding the mean into the shift would cancel catastrophically
    // for large means (x * scale and mean * scale both large).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * channels) { buffer in
        let mean = buffer.baseAddress!, scale = mean + channels, shift = scale + channels   // [channels] each
        for c in 0..<channels {
            let s = statistics[c / channelsPerGroup]
            mean[c] = s.mean
            scale[c] = s.rstd * gamma[c]
            shift[c] = Lane16.mulAdd(-s.meanResidual, scale[c], beta[c])
        }
        for p in pixels {
            let xr = x + p * channels, yr = y + p * channels                  // [channels]
            var c = 0
            while c + 16 <= channels {
                let v = Lane16.mulAdd(Lane16.load(xr + c) - Lane16.load(mean + c), Lane16.load(scale + c),
                                      Lane16.load(shift + c))
                Lane16.store(silu ? v * fastSigmoid(v) : v, yr + c)
                c += 16
            }
            if c < channels {
                let n = channels - c
                let v = Lane16.mulAdd(Lane16.loadPartial(xr + c, n) - Lane16.loadPartial(mean + c, n),
                                      Lane16.loadPartial(scale + c, n), Lane16.loadPartial(shift + c, n))
                Lane16.storePartial(silu ? v * fastSigmoid(v) : v, yr + c, n)
            }
        }
    }
}

/// Scalar reference twin of HWC GroupNorm: Double statistics over each whole group, the plain formula.
/// - Parameters:
///   - x, y: `[pixels, channels]`.
public func groupNormReferenceHWC(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pixels: Int,
                                  channels: Int, groups: Int, eps: Float, gamma: UnsafePointer<Float>,
                                  beta: UnsafePointer<Float>, silu: Bool) {
    let perGroup = channels / groups
    let n = Double(pixels * perGroup)
    for g in 0..<groups {
        let members = g * perGroup..<(g + 1) * perGroup
        var sum = 0.0
        for p in 0..<pixels { for c in members { sum += Double(x[p * channels + c]) } }
        let mean = sum / n
        var squares = 0.0
        for p in 0..<pixels { for c in members { squares += (Double(x[p * channels + c]) - mean) * (Double(x[p * channels + c]) - mean) } }
        let rstd = 1 / (squares / n + Double(eps)).squareRoot()
        for p in 0..<pixels {
            for c in members {
                let v = Float((Double(x[p * channels + c]) - mean) * rstd * Double(gamma[c]) + Double(beta[c]))
                y[p * channels + c] = silu ? v * fastSigmoid(v) : v
            }
        }
    }
}
