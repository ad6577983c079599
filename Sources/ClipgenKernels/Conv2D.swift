// 2-D convolution, stride 1, zero padding kernelSize / 2 (3x3 pad 1, or 1x1), with bias, for the VQGAN decoder.
//
// Layout: HWC (channels fastest), batch 1. Reasons: a conv is then a GEMM whose rows are pixels and whose
// columns are output channels ([pixels, Cout] = [pixels, 9 * Cin] @ [9 * Cin, Cout]); the codebook lookup
// yields HWC rows directly, and the final RGB image is HWC as PNG wants it.
//
// Method: implicit GEMM ("direct"). Each register tile of 8 output pixels reads its A rows straight from
// the input through 8 row pointers per tap (a shared zero row stands in for the padding), so no im2col
// buffer exists; the weights are packed once as GEMM B panels (`conv2dPackWeights`). Measured against
// im2col (per 8- or 16-row band) + `gemmPacked`, 1 thread, GFLOP/s, median of 8 by thread CPU time on a
// loaded 2-core AVX-512 guest (/tmp/gemm/bench_main.swift, 2026-11):
//   128->128 at 64x64: direct 154-159, im2col 104-110;  at 256x256: direct 156-160, im2col 97-103;
//   512->512 at 16x16: direct 136-144, im2col 119-128.
// Direct also needs no im2col buffer (9x the band's input).
//
// Bands: `conv2d` computes any range of output rows. Each output element is one multiply-add chain
// (bias, then (ky, kx, ci) in order) whatever the band, so banded output equals whole output bit for bit,
// and `conv2dReference` equals `conv2d` bit for bit.

/// Geometry of one convolution (batch 1, HWC tensors).
public struct Conv2DGeometry: Sendable {
    /// Output height and width. The input has the same size, or half of it when `upsampleInput`.
    public var height: Int
    public var width: Int
    public var inChannels: Int
    public var outChannels: Int
    /// 1 or 3; padding is kernelSize / 2, stride 1.
    public var kernelSize: Int
    /// Reads the input nearest-neighbour upsampled 2x (input [height / 2, width / 2, inChannels]):
    /// the decoder's `upsample` + `conv` without materialising the 4x larger tensor.
    public var upsampleInput: Bool

    public init(height: Int, width: Int, inChannels: Int, outChannels: Int, kernelSize: Int,
                upsampleInput: Bool = false) {
        precondition(kernelSize == 1 || kernelSize == 3, "conv2d supports 1x1 and 3x3 kernels")
        precondition(height > 0 && width > 0 && inChannels > 0 && outChannels > 0,
                     "conv2d sizes must be positive: \(height)x\(width), \(inChannels) -> \(outChannels) channels")
        precondition(!upsampleInput || (height % 2 == 0 && width % 2 == 0), "upsampled size must be even")
        self.height = height; self.width = width
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.upsampleInput = upsampleInput
    }

    var inputHeight: Int { upsampleInput ? height / 2 : height }
    var inputWidth: Int { upsampleInput ? width / 2 : width }
    /// GEMM K: kernel taps x input channels, ordered (ky, kx, ci).
    public var reduction: Int { kernelSize * kernelSize * inChannels }
}

/// Floats needed by `conv2dPackWeights`.
public func conv2dPackedWeightCount(_ g: Conv2DGeometry) -> Int {
    gemmPackedBCount(k: g.reduction, n: g.outChannels)
}

/// Packs PyTorch weights [Cout, Cin, k, k] (OIHW) into the GEMM B panels `conv2d` reads:
/// B[(ky * k + kx) * Cin + ci, co] = w[co, ci, ky, kx].
public func conv2dPackWeights(_ g: Conv2DGeometry, oihw w: UnsafePointer<Float>,
                              into packed: UnsafeMutablePointer<Float>) {
    let taps = g.kernelSize * g.kernelSize, k = g.reduction, n = g.outChannels
    let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)  // [taps * Cin, Cout]
    defer { b.deallocate() }
    for co in 0..<n {
        for ci in 0..<g.inChannels {
            for t in 0..<taps { b[(t * g.inChannels + ci) * n + co] = w[(co * g.inChannels + ci) * taps + t] }
        }
    }
    gemmPackB(k: k, n: n, b: b, ldb: n, into: packed)
}

/// Packs weights stored [Cout, k, k, Cin] (OHWI: each output channel's row tap by tap, input channels
/// contiguous, the order a clipgen model file stores convolutions in) into the same B panels:
/// B[(ky * k + kx) * Cin + ci, co] = w[((co * k + ky) * k + kx) * Cin + ci], i.e. B is the transposed rows.
public func conv2dPackWeights(_ g: Conv2DGeometry, ohwi w: UnsafePointer<Float>,
                              into packed: UnsafeMutablePointer<Float>) {
    let k = g.reduction, n = g.outChannels
    let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)  // [taps * Cin, Cout]
    defer { b.deallocate() }
    for co in 0..<n {
        for r in 0..<k { b[r * n + co] = w[co * k + r] }
    }
    gemmPackB(k: k, n: n, b: b, ldb: n, into: packed)
}

/// Output rows `rows` of a convolution (the band entry point; threads take disjoint bands).
///
/// - Parameters:
///   - input: HWC rows of the input; input row r (in input coordinates) is at
///     `input + (r - inputFirstRow) * inputWidth * inChannels`. It must hold every row the band reads
///     (rows.lowerBound - 1 ... rows.upperBound, clipped, halved when upsampling).
///   - weights: from `conv2dPackWeights`.  - bias: [outChannels] or nil.
///   - output: output row r is at `output + (r - outputFirstRow) * width * outChannels`.
public func conv2d(_ g: Conv2DGeometry, input: UnsafePointer<Float>, inputFirstRow: Int = 0,
                   weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, outputFirstRow: Int = 0, rows: Range<Int>) {
    if rows.isEmpty { return }
    precondition(rows.lowerBound >= 0 && rows.upperBound <= g.height && rows.lowerBound >= outputFirstRow,
                 "conv2d: output rows \(rows) outside 0..<\(g.height) or before the output buffer's first row")
    let out = output + (rows.lowerBound - outputFirstRow) * g.width * g.outChannels
    if g.kernelSize == 1 && !g.upsampleInput {
        // A 1x1 conv is a GEMM over the band's pixels as they lie in memory.
        let a = input + (rows.lowerBound - inputFirstRow) * g.width * g.inChannels
        gemmPacked(rows: 0..<(rows.count * g.width), columns: 0..<g.outChannels, k: g.inChannels,
                   a: a, lda: g.inChannels, packedB: weights, c: out, ldc: g.outChannels, bias: bias)
        return
    }
    conv2dImplicit(g, input: input, inputFirstRow: inputFirstRow, weights: weights, bias: bias,
                   output: out, rows: rows)
}

/// Bytes of packed weights a group of column panels may take: the group stays in L2 while every pixel
/// tile of the band runs through it, so the band's input and output stream through the cache once per
/// group instead of once per panel.
let convPanelGroupBytes = 1 << 20

/// Implicit GEMM over the band: panel groups, then 8-pixel tiles, then the group's panels; each
/// (tile, panel) runs its whole chain (all taps) in registers.
func conv2dImplicit(_ g: Conv2DGeometry, input: UnsafePointer<Float>, inputFirstRow: Int,
                    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    let nr = gemmTileColumns, mr = gemmTileRows
    let cin = g.inChannels, cout = g.outChannels, k = g.reduction
    let taps = g.kernelSize * g.kernelSize, pad = g.kernelSize / 2
    let pixels = rows.count * g.width
    let panels = (cout + nr - 1) / nr
    let groupPanels = max(1, convPanelGroupBytes / (k * nr * 4))
    // Scratch: a zero input pixel, the edge tile, the padded bias, the tile's row pointers per tap.
    let count = cin + mr * nr + panels * nr
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: count)
    defer { scratch.deallocate() }
    let zeros = UnsafePointer(scratch)  // [cin] stands in for padding pixels
    let edge = scratch + cin
    let biasPadded = edge + mr * nr  // [panels * nr]
    scratch.initialize(repeating: 0, count: count)
    if let bias { biasPadded.update(from: bias, count: cout) }
    let sources = UnsafeMutablePointer<GemmRows>.allocate(capacity: taps)  // [taps] x 8 pixels
    defer { sources.deallocate() }
    let shift = g.upsampleInput ? 1 : 0
    let inW = g.inputWidth

    /// Input row (`cin` floats) read by output pixel (y, x) at tap offset (dy, dx).
    @inline(__always) func source(_ y: Int, _ x: Int, _ dy: Int, _ dx: Int) -> UnsafePointer<Float> {
        let iy = y + dy, ix = x + dx
        if iy < 0 || iy >= g.height || ix < 0 || ix >= g.width { return zeros }
        return input + (((iy >> shift) - inputFirstRow) * inW + (ix >> shift)) * cin
    }

    var p0 = 0
    while p0 < panels {
        let p1 = min(p0 + groupPanels, panels)
        var q = 0, y = rows.lowerBound, x = 0  // (y, x) is pixel q
        while q < pixels {
            let valid = min(mr, pixels - q)
            // The tile's pixels; slots past `valid` repeat the first pixel (computed, not stored).
            var ys = SIMD8<Int>(repeating: y), xs = SIMD8<Int>(repeating: x)
            for r in 1..<valid {
                x += 1
                if x == g.width { x = 0; y += 1 }
                ys[r] = y; xs[r] = x
            }
            x += 1
            if x == g.width { x = 0; y += 1 }
            for t in 0..<taps {
                let dy = t / g.kernelSize - pad, dx = t % g.kernelSize - pad
                sources[t] = GemmRows(source(ys[0], xs[0], dy, dx), source(ys[1], xs[1], dy, dx),
                                      source(ys[2], xs[2], dy, dx), source(ys[3], xs[3], dy, dx),
                                      source(ys[4], xs[4], dy, dx), source(ys[5], xs[5], dy, dx),
                                      source(ys[6], xs[6], dy, dx), source(ys[7], xs[7], dy, dx))
            }
            for p in p0..<p1 {
                let lo = p * nr
                let target = GemmTileTarget(c: output + q * cout + lo, ldc: cout, rows: valid,
                                            columns: min(nr, cout - lo), offset: 0, edge: edge)
                var tile = target.start(accumulate: false, bias: bias == nil ? nil : UnsafePointer(biasPadded + lo))
                let panel = weights + p * k * nr  // [k, nr]
                for t in 0..<taps { tile.multiplyAdd(sources[t], count: cin, panel: panel + t * cin * nr) }
                target.store(tile)
            }
            q += mr
        }
        p0 = p1
    }
}

/// Reference twin of `conv2d` over the whole image, from unpacked OIHW weights: padding reads as 0.0
/// multiplied in (as the fast path does), so the two agree bit for bit.
public func conv2dReference(_ g: Conv2DGeometry, input: UnsafePointer<Float>, oihw w: UnsafePointer<Float>,
                            bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
    let ks = g.kernelSize, pad = ks / 2, cin = g.inChannels
    let shift = g.upsampleInput ? 1 : 0
    for y in 0..<g.height {
        for x in 0..<g.width {
            for co in 0..<g.outChannels {
                var s = bias?[co] ?? 0
                for ky in 0..<ks {
                    for kx in 0..<ks {
                        let iy = y + ky - pad, ix = x + kx - pad
                        let inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width
                        for ci in 0..<cin {
                            let v = inside ? input[((iy >> shift) * g.inputWidth + (ix >> shift)) * cin + ci] : 0
                            s = gemmFMA(s, v, w[((co * cin + ci) * ks + ky) * ks + kx])
                        }
                    }
                }
                output[(y * g.width + x) * g.outChannels + co] = s
            }
        }
    }
}
