// LayerNorm over rows (CLIP text tower, the GPT: eps 1e-5) and GroupNorm over a channel-major [C, H*W] activation
// (taming VQGAN: 32 groups, eps 1e-6; HFAiLab VQGAN: eps 1e-5), each a SIMD16 kernel with a scalar reference twin.
// Both use the biased variance, like PyTorch. GroupNorm statistics are computed apart from their application so a
// decoder that runs in horizontal bands can gather them over the whole image, then normalise band by band.

/// Column block of the GroupNorm moment pass: small enough that Float partial sums stay accurate (~1e-7 relative),
/// and small enough that its two passes re-read it from L1.
private let groupMomentBlock = 1024

/// Sum of x[0..<count] - shift and of its square, SIMD16; lanes past `count` contribute nothing.
@inline(__always)
private func shiftedSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (sum: Float, squares: Float) {
    typealias V = SIMD16<Float>
    let shiftV = V(repeating: shift)
    var s0 = V(), s1 = V(), q0 = V(), q1 = V()
    var i = 0
    while i + 32 <= count {
        let d0 = Lane16.load(x + i) - shiftV
        let d1 = Lane16.load(x + i + 16) - shiftV
        s0 += d0
        s1 += d1
        q0 = Lane16.mulAdd(d0, d0, q0)
        q1 = Lane16.mulAdd(d1, d1, q1)
        i += 32
    }
    if i + 16 <= count {
        let d0 = Lane16.load(x + i) - shiftV
        s0 += d0
        q0 = Lane16.mulAdd(d0, d0, q0)
        i += 16
    }
    if i < count {
        let d1 = Lane16.keepFirst(Lane16.loadPartial(x + i, count - i) - shiftV, count - i)
        s1 += d1
        q1 = Lane16.mulAdd(d1, d1, q1)
    }
    return (Lane16.sum(s0 + s1), Lane16.sum(q0 + q1))
}

/// Mean (as a Float `base` plus a small Float `offset`, so x - mean keeps the mean's low bits) and biased variance
/// of x[0..<count], count >= 1, by the corrected two-pass algorithm in Float.
@inline(__always) private func rowMoments(_ x: UnsafePointer<Float>, count: Int)
    -> (base: Float, offset: Float, variance: Float) {
    let n = Float(count)
    // Pass 1 is shifted by x[0] so a large common offset does not swamp the sum; pass 2 sums squared
    // deviations and corrects the mean by the (tiny) residual sum of deviations.
    let base = x[0] + shiftedSums(x, count: count, shift: x[0]).sum / n
    let (residual, squares) = shiftedSums(x, count: count, shift: base)
    let variance = Swift.max((squares - residual * residual / n) / n, 0)
    return (base, residual / n, variance)
}

// MARK: - LayerNorm

/// LayerNorm of each row in a range: y = (x - mean) / sqrt(var + eps) * gamma + beta, SIMD16.
///
/// `y` may equal `x` (in place). Rows are independent, so callers may split `rows` across threads freely.
/// - Parameters:
///   - x: input, `[rowCount, columns]`.
///   - y: output, `[rowCount, columns]`.
///   - gamma: scale, `[columns]`.
///   - beta: shift, `[columns]`.
///   - columns: row length (the normalised dimension), >= 1.
///   - rows: rows to normalise.
///   - eps: added to the variance (1e-5 for CLIP and the GPT).
public func layerNorm(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, gamma: UnsafePointer<Float>,
                      beta: UnsafePointer<Float>, columns: Int, rows: Range<Int>, eps: Float) {
    precondition(columns >= 1, "layerNorm needs at least one column")
    for r in rows {
        let xr = x + r * columns                                    // [columns]
        let yr = y + r * columns                                    // [columns]
        let (base, offset, variance) = rowMoments(xr, count: columns)
        let rstd = 1 / (variance + eps).squareRoot()
        let baseV = SIMD16<Float>(repeating: base), offsetV = SIMD16<Float>(repeating: offset)
        let rstdV = SIMD16<Float>(repeating: rstd)
        var i = 0
        while i + 16 <= columns {
            let d = (Lane16.load(xr + i) - baseV - offsetV) * rstdV
            Lane16.store(Lane16.mulAdd(d, Lane16.load(gamma + i), Lane16.load(beta + i)), yr + i)
            i += 16
        }
        while i < columns {
            yr[i] = Lane16.mulAdd((xr[i] - base - offset) * rstd, gamma[i], beta[i])
            i += 1
        }
    }
}

/// Scalar reference twin of `layerNorm`: plain two-pass statistics in Double.
public func layerNormReference(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, columns: Int,
                               rows: Range<Int>, eps: Float) {
    for r in rows {
        var sum = 0.0
        for c in 0..<columns { sum += Double(x[r * columns + c]) }
        let mean = sum / Double(columns)
        var squares = 0.0
        for c in 0..<columns {
            let d = Double(x[r * columns + c]) - mean
            squares += d * d
        }
        let rstd = 1 / (squares / Double(columns) + Double(eps)).squareRoot()
        for c in 0..<columns {
            let d = (Double(x[r * columns + c]) - mean) * rstd
            y[r * columns + c] = Float(d * Double(gamma[c]) + Double(beta[c]))
        }
    }
}

// MARK: - GroupNorm statistics

/// Count, mean and sum of squared deviations of a set of values; sets merge exactly (Chan et al.).
public struct GroupMoments: Equatable, Sendable {
    /// Number of values.
    public var count: Double = 0
    /// Their mean.
    public var mean: Double = 0
    /// Sum of squared deviations from the mean.
    public var m2: Double = 0

    /// An empty set.
    public init() {}

    /// Moments of `count` values with the given mean and sum of squared deviations.
    public init(count: Double, mean: Double, m2: Double) {
        self.count = count
        self.mean = mean
        self.m2 = m2
    }

    /// Adds another set's values to this one.
    public mutating func merge(_ other: GroupMoments) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let total = count + other.count
        let delta = other.mean - mean
        mean += delta * (other.count / total)
        m2 += other.m2 + delta * delta * (count * other.count / total)
        count = total
    }

    /// Biased variance (m2 / count), 0 for an empty set.
    public var variance: Double { count > 0 ? Swift.max(m2 / count, 0) : 0 }
}

/// Merges the moments of a band of a channel-major activation into per-group moments, SIMD16.
///
/// Each channel row is summed in fixed blocks of `groupMomentBlock` columns from the band's start (Float two-pass
/// within a block, Double across blocks), so the result depends on the band split but not on threads.
/// Groups are independent: callers may split `groups` across threads.
/// - Parameters:
///   - x: the band at channel 0, `[channels, channelStride]`, columns `0..<columns` used.
///   - channelStride: floats between consecutive channels (H*W for a full tensor).
///   - columns: band width in floats (band rows * W).
///   - channelsPerGroup: C / numGroups.
///   - groups: groups to update.
///   - moments: per-group moments, `[numGroups]`, merged into.
public func accumulateGroupMoments(_ x: UnsafePointer<Float>, channelStride: Int, columns: Int, channelsPerGroup: Int,
                                   groups: Range<Int>, into moments: UnsafeMutablePointer<GroupMoments>) {
    for g in groups {
        for c in g * channelsPerGroup..<(g + 1) * channelsPerGroup {
            var start = 0
            while start < columns {
                let n = Swift.min(groupMomentBlock, columns - start)
                let (base, offset, variance) = rowMoments(x + c * channelStride + start, count: n)
                moments[g].merge(GroupMoments(count: Double(n), mean: Double(base) + Double(offset),
                                              m2: Double(variance) * Double(n)))
                start += n
            }
        }
    }
}

/// What GroupNorm applies to one group: its mean (split in two Floats) and 1 / sqrt(var + eps).
public struct GroupStatistics: Equatable, Sendable {
    /// The mean rounded to Float.
    public var mean: Float
    /// The mean's rounding residual (true mean - `mean`), so x - mean stays exact for large means.
    public var meanResidual: Float
    /// 1 / sqrt(biased variance + eps).
    public var rstd: Float

    /// Statistics from a mean (split here) and rstd.
    public init(mean: Double, rstd: Float) {
        self.mean = Float(mean)
        meanResidual = Float(mean - Double(Float(mean)))
        self.rstd = rstd
    }

    /// Statistics of a set of values.
    public init(_ moments: GroupMoments, eps: Float) {
        self.init(mean: moments.mean, rstd: Float(1 / (moments.variance + Double(eps)).squareRoot()))
    }
}

/// Per-group mean and 1 / sqrt(var + eps) of a whole channel-major activation, SIMD16.
/// - Parameters:
///   - x: activation, `[channels, spatial]`.
///   - channels: C, a multiple of `groups`.
///   - spatial: H * W.
///   - groups: number of groups (32 in both VQGANs).
///   - eps: added to the variance.
///   - statistics: output, `[groups]`.
public func groupNormStatistics(_ x: UnsafePointer<Float>, channels: Int, spatial: Int, groups: Int, eps: Float,
                                into statistics: UnsafeMutablePointer<GroupStatistics>) {
    precondition(groups >= 1 && channels % groups == 0 && spatial >= 1, "GroupNorm needs C divisible by groups")
    withUnsafeTemporaryAllocation(of: GroupMoments.self, capacity: groups) { moments in
        let m = moments.baseAddress!
        m.initialize(repeating: GroupMoments(), count: groups)
        accumulateGroupMoments(x, channelStride: spatial, columns: spatial, channelsPerGroup: channels / groups,
                               groups: 0..<groups, into: m)
        for g in 0..<groups { statistics[g] = GroupStatistics(m[g], eps: eps) }
    }
}

// MARK: - GroupNorm application

/// Applies GroupNorm statistics and the per-channel affine to a band, optionally followed by SiLU, SIMD16.
///
/// y = (x - mean[g]) * rstd[g] * gamma[c] + beta[c]; with `silu`, y * sigmoid(y). `y` may equal `x`.
/// - Parameters:
///   - x: input band at channel 0, `[channels, xStride]`, columns `0..<columns` read.
///   - xStride: floats between channels in `x`.
///   - y: output band at channel 0, `[channels, yStride]`.
///   - yStride: floats between channels in `y`.
///   - columns: band width in floats.
///   - channels: channels to process (callers may split them across threads).
///   - channelsPerGroup: C / numGroups.
///   - statistics: per-group statistics, `[numGroups]`.
///   - gamma, beta: per-channel affine, `[C]`.
///   - silu: apply x * sigmoid(x) after the affine (the VQGAN's norm -> swish).
public func applyGroupNorm(_ x: UnsafePointer<Float>, xStride: Int, into y: UnsafeMutablePointer<Float>, yStride: Int,
                           columns: Int, channels: Range<Int>, channelsPerGroup: Int,
                           statistics: UnsafePointer<GroupStatistics>, gamma: UnsafePointer<Float>,
                           beta: UnsafePointer<Float>, silu: Bool) {
    for c in channels {
        let stats = statistics[c / channelsPerGroup]
        let scale = stats.rstd * gamma[c]
        let meanV = SIMD16<Float>(repeating: stats.mean)
        let scaleV = SIMD16<Float>(repeating: scale)
        let betaV = SIMD16<Float>(repeating: Lane16.mulAdd(-stats.meanResidual, scale, beta[c]))  // residual folded in
        let xc = x + c * xStride                                    // [columns]
        let yc = y + c * yStride                                    // [columns]
        var i = 0
        if silu {
            while i + 16 <= columns {
                let v = Lane16.mulAdd(Lane16.load(xc + i) - meanV, scaleV, betaV)
                Lane16.store(v * fastSigmoid(v), yc + i)
                i += 16
            }
        } else {
            while i + 16 <= columns {
                Lane16.store(Lane16.mulAdd(Lane16.load(xc + i) - meanV, scaleV, betaV), yc + i)
                i += 16
            }
        }
        if i < columns {
            let n = columns - i
            let v = Lane16.mulAdd(Lane16.loadPartial(xc + i, n) - meanV, scaleV, betaV)
            Lane16.storePartial(silu ? v * fastSigmoid(v) : v, yc + i, n)
        }
    }
}

/// Scalar reference twin of GroupNorm (statistics in Double over each whole group, then the affine and SiLU).
/// - Parameters:
///   - x: input, `[channels, spatial]`.
///   - y: output, `[channels, spatial]`.
public func groupNormReference(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, channels: Int,
                               spatial: Int, groups: Int, eps: Float, gamma: UnsafePointer<Float>,
                               beta: UnsafePointer<Float>, silu: Bool) {
    let perGroup = channels / groups
    for g in 0..<groups {
        let base = x + g * perGroup * spatial                       // [perGroup * spatial]
        let n = perGroup * spatial
        var sum = 0.0
        for i in 0..<n { sum += Double(base[i]) }
        let mean = sum / Double(n)
        var squares = 0.0
        for i in 0..<n {
            let d = Double(base[i]) - mean
            squares += d * d
        }
        let rstd = 1 / (squares / Double(n) + Double(eps)).squareRoot()
        for c in g * perGroup..<(g + 1) * perGroup {
            for i in 0..<spatial {
                let d = (Double(x[c * spatial + i]) - mean) * rstd
                let v = Float(d * Double(gamma[c]) + Double(beta[c]))
                y[c * spatial + i] = silu ? v * fastSigmoid(v) : v
            }
        }
    }
}
