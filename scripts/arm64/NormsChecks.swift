// aarch64 checks of Norms.swift: LayerNorm and GroupNorm (statistics, then application, with and without SiLU)
// against their Double-statistics twins within normAbsoluteTolerance, over odd sizes, zeros and large offsets.
import ClipgenKernels

private func layerNormed(_ x: [Float], _ gamma: [Float], _ beta: [Float], columns: Int, fast: Bool) -> [Float] {
    var y = [Float](repeating: .nan, count: x.count)   // [rows, columns]
    x.withUnsafeBufferPointer { px in
        gamma.withUnsafeBufferPointer { pg in
            beta.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { out in
                    let rows = 0..<x.count / columns
                    if fast {
                        layerNorm(px.baseAddress!, into: out.baseAddress!, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                  columns: columns, rows: rows, eps: 1e-5)
                    } else {
                        layerNormReference(px.baseAddress!, into: out.baseAddress!, gamma: pg.baseAddress!,
                                           beta: pb.baseAddress!, columns: columns, rows: rows, eps: 1e-5)
                    }
                }
            }
        }
    }
    return y
}

/// GroupNorm of x [channels, spatial] by the fast pair (statistics, application) or by the twin.
private func groupNormed(_ x: [Float], channels: Int, spatial: Int, groups: Int, gamma: [Float], beta: [Float],
                         silu: Bool, fast: Bool) -> [Float] {
    var y = [Float](repeating: .nan, count: x.count)
    var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
    x.withUnsafeBufferPointer { px in
        gamma.withUnsafeBufferPointer { pg in
            beta.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { out in
                    if fast {
                        stats.withUnsafeMutableBufferPointer { ps in
                            groupNormStatistics(px.baseAddress!, channels: channels, spatial: spatial, groups: groups,
                                                eps: 1e-6, into: ps.baseAddress!)
                            applyGroupNorm(px.baseAddress!, xStride: spatial, into: out.baseAddress!, yStride: spatial,
                                           columns: spatial, channels: 0..<channels, channelsPerGroup: channels / groups,
                                           statistics: ps.baseAddress!, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                           silu: silu)
                        }
                    } else {
                        groupNormReference(px.baseAddress!, into: out.baseAddress!, channels: channels, spatial: spatial,
                                           groups: groups, eps: 1e-6, gamma: pg.baseAddress!, beta: pb.baseAddress!,
                                           silu: silu)
                    }
                }
            }
        }
    }
    return y
}

func normChecks() {
    for n in oddSizes {
        var random = SplitMix(seed: 500 + UInt64(n))
        let gamma = random.floats(n, 0.5, 1.5), beta = random.floats(n)
        var offset = random.floats(3 * n)
        for i in 0..<offset.count { offset[i] += 1e4 }
        var worst: Float = 0
        for x in [random.floats(3 * n, -4, 4), [Float](repeating: 0, count: 3 * n), offset,
                  random.floats(3 * n, -3e4, 3e4)] {
            worst = max(worst, maxAbsDifference(layerNormed(x, gamma, beta, columns: n, fast: true),
                                                layerNormed(x, gamma, beta, columns: n, fast: false)))
        }
        let zero = layerNormed([Float](repeating: 0, count: 3 * n), gamma, beta, columns: n, fast: true)
        check("layerNorm vs layerNormReference, 3 rows x \(n)", worst <= normAbsoluteTolerance
                && bitMismatches(zero, beta + beta + beta) == 0,
              "max abs diff " + sci(worst) + ", tolerance " + sci(normAbsoluteTolerance) + "; zero rows give beta")
    }

    let channels = 24, groups = 6
    for spatial in oddSizes {
        var random = SplitMix(seed: 700 + UInt64(spatial))
        let gamma = random.floats(channels, 0.5, 1.5), beta = random.floats(channels)
        let n = channels * spatial
        var worst: Float = 0
        for x in [random.floats(n, -3, 3), [Float](repeating: 0, count: n), random.floats(n, 500, 502)] {
            for silu in [false, true] {
                let fast = groupNormed(x, channels: channels, spatial: spatial, groups: groups, gamma: gamma,
                                       beta: beta, silu: silu, fast: true)
                let slow = groupNormed(x, channels: channels, spatial: spatial, groups: groups, gamma: gamma,
                                       beta: beta, silu: silu, fast: false)
                worst = max(worst, maxAbsDifference(fast, slow))
            }
        }
        check("groupNorm (+SiLU) vs groupNormReference, \(channels) channels x \(spatial)",
              worst <= normAbsoluteTolerance, "max abs diff " + sci(worst) + ", tolerance " + sci(normAbsoluteTolerance))
    }

    var random = SplitMix(seed: 9)
    let columns = 768, x = random.floats(77 * columns), gamma = random.floats(columns), beta = random.floats(columns)
    var y = [Float](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { px in
        gamma.withUnsafeBufferPointer { pg in
            beta.withUnsafeBufferPointer { pb in
                y.withUnsafeMutableBufferPointer { py in
                    let (xp, gp, bp, yp) = (px.baseAddress!, pg.baseAddress!, pb.baseAddress!, py.baseAddress!)
                    timeLine("layerNorm 77x768",
                             fast: { layerNorm(xp, into: yp, gamma: gp, beta: bp, columns: columns, rows: 0..<77, eps: 1e-5) },
                             reference: { layerNormReference(xp, into: yp, gamma: gp, beta: bp, columns: columns,
                                                             rows: 0..<77, eps: 1e-5) })
                }
            }
        }
    }
}
