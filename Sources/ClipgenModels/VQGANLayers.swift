// The VQGAN decoder's layers over a mapped model file: convolutions (weights stored [out, kh, kw, in], any type,
// dequantised and packed per use so no float copy of the decoder stays resident), GroupNorm(+swish), the
// taming ResnetBlock and single-head AttnBlock. All tensors are HWC [pixels, channels].

import ClipgenFile
import ClipgenKernels
import ClipgenThreads

/// Output rows per parallel task of the banded convolutions (each task also reads one halo row on each side).
let convBandRows = 4

/// How the decoder's convolutions do their arithmetic (`VQGANDecoder.convolutionArithmetic`).
public enum ConvolutionArithmetic: String, CaseIterable, Sendable {
    /// Weights dequantised to float while their layer runs, float multiply-adds (`conv2d`): the default.
    case float
    /// Q8_0 weights used as stored, activations quantised to Q8_0 per pixel, int8 products (`conv2dQ8_0`).
    /// Layers whose weights are not Q8_0 (an F32 / F16 file) or whose reduction is not a multiple of 32 stay float.
    case int8
}

/// A 2-D convolution, stride 1, padding k / 2, with bias.
final class ConvLayer {
    let name: String
    let kernelSize, inChannels, outChannels: Int
    let weight: GGUFTensor                                  // ggml [in, kw, kh, out] = [out, kh, kw, in]
    let bias: UnsafePointer<Float>                          // [out]
    var arithmetic = ConvolutionArithmetic.float
    /// Whether this layer takes the int8 path under `.int8`: Q8_0 weights whose rows are whole Q8_0 blocks.
    var int8Capable: Bool { weight.type == .q8_0 && (kernelSize * kernelSize * inChannels) % Q8_0.blockValues == 0 }

    init(_ r: ComponentReader, _ prefix: String, kernel: Int, in cin: Int, out cout: Int) throws {
        name = "\(r.component).\(prefix)"
        (kernelSize, inChannels, outChannels) = (kernel, cin, cout)
        weight = try r.tensor(prefix + ".weight", shape: [cin, kernel, kernel, cout], types: [.q8_0, .f16, .f32])
        bias = try r.vector(prefix + ".bias", count: cout)
    }

    /// The weights as `conv2d`'s packed panels for geometry `g` (caller deallocates).
    func packed(_ g: Conv2DGeometry) -> UnsafeMutablePointer<Float> {
        let k = kernelSize * kernelSize * inChannels            // one output channel's row
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: outChannels * k)   // [out, kh, kw, in]
        defer { rows.deallocate() }
        for o in 0..<outChannels {
            let src = weight.rowPointer(o * kernelSize * kernelSize)                  // row o starts here
            let dst = rows + o * k
            switch weight.type {
            case .q8_0: dequantizeRowQ8_0(src, count: k, into: dst)
            case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: k)
            case .f16:
                let bits = src.assumingMemoryBound(to: UInt16.self)
                for i in 0..<k { dst[i] = floatFromHalfBits(bits[i]) }
            }
        }
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: conv2dPackedWeightCount(g))
        conv2dPackWeights(g, ohwi: rows, into: packed)
        return packed
    }

    /// y = conv(x) (or y += conv(x) with `add`) over an image of `height` x `width` output pixels, in parallel row bands.
    /// With `upsample`, x is [height / 2, width / 2, in] read nearest-2x-upsampled. With `prepare`, each band's input
    /// rows (plus halo) are first transformed into a private buffer by `prepare(source rows, destination)` (the
    /// GroupNorm + swish that precedes most convolutions), so the normalised tensor never exists whole.
    func callAsFunction(_ x: UnsafePointer<Float>, height: Int, width: Int, upsample: Bool = false,
                        into y: UnsafeMutablePointer<Float>, add: Bool = false, pool: ThreadPool,
                        prepare: ((Range<Int>, UnsafeMutablePointer<Float>) -> Void)? = nil) {
        let g = Conv2DGeometry(height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                               kernelSize: kernelSize, upsampleInput: upsample)
        let int8 = arithmetic == .int8 && int8Capable
        let w = int8 ? nil : packed(g)
        defer { w?.deallocate() }
        let stored = weight.rowPointer(0)                   // the Q8_0 rows as mapped, for the int8 path
        func convolve(_ input: UnsafePointer<Float>, _ inputFirstRow: Int, _ output: UnsafeMutablePointer<Float>,
                      _ outputFirstRow: Int, _ rows: Range<Int>) {
            if let w {
                conv2d(g, input: input, inputFirstRow: inputFirstRow, weights: w, bias: bias, output: output,
                       outputFirstRow: outputFirstRow, rows: rows)
            } else {
                conv2dQ8_0(g, input: input, inputFirstRow: inputFirstRow, weights: stored, bias: bias,
                           output: output, outputFirstRow: outputFirstRow, rows: rows)
            }
        }
        let inputHeight = upsample ? height / 2 : height, inputWidth = upsample ? width / 2 : width
        let halo = kernelSize / 2
        pool.parallelFor((height + convBandRows - 1) / convBandRows) { band in
            let rows = band * convBandRows ..< min(height, (band + 1) * convBandRows)
            var input = x, inputFirstRow = 0
            var prepared: UnsafeMutablePointer<Float>? = nil
            if let prepare {
                // Input rows this band reads (in input coordinates), clipped to the image.
                let first = max(0, upsample ? (rows.lowerBound - halo) / 2 : rows.lowerBound - halo)
                let last = min(inputHeight, (upsample ? (rows.upperBound - 1 + halo) / 2 : rows.upperBound - 1 + halo) + 1)
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: (last - first) * inputWidth * self.inChannels)
                prepare(first..<last, buffer)
                (input, inputFirstRow, prepared) = (UnsafePointer(buffer), first, buffer)
            }
            defer { prepared?.deallocate() }
            if add {
                // The band's result in a private buffer, then added onto y's rows (no other band writes them).
                let count = rows.count * width * self.outChannels
                let result = UnsafeMutablePointer<Float>.allocate(capacity: count)
                defer { result.deallocate() }
                convolve(input, inputFirstRow, result, rows.lowerBound, rows)
                addInPlace(y + rows.lowerBound * width * self.outChannels, result, count: count)
            } else {
                convolve(input, inputFirstRow, y, 0, rows)
            }
        }
    }
}

/// GroupNorm with affine weight and bias, optionally followed by swish.
struct GroupNormLayer {
    let weight, bias: UnsafePointer<Float>                  // [channels]
    let channels, groups: Int
    let eps: Float

    init(_ r: ComponentReader, _ prefix: String, channels: Int, config: VQGANConfig) throws {
        weight = try r.vector(prefix + ".weight", count: channels)
        bias = try r.vector(prefix + ".bias", count: channels)
        self.channels = channels
        groups = config.normGroups
        eps = config.normEps
    }

    /// Statistics of x [pixels, channels].
    func statistics(_ x: UnsafePointer<Float>, pixels: Int) -> [GroupStatistics] {
        var stats = [GroupStatistics](repeating: GroupStatistics(mean: 0, rstd: 0), count: groups)
        groupNormStatisticsHWC(x, pixels: pixels, channels: channels, groups: groups, eps: eps, into: &stats)
        return stats
    }

    /// A `ConvLayer` `prepare` step: normalises (and swishes) image rows of x (`width` pixels each) into a buffer.
    func prepare(_ x: UnsafePointer<Float>, width: Int, statistics stats: [GroupStatistics], swish: Bool)
        -> (Range<Int>, UnsafeMutablePointer<Float>) -> Void {
        { rows, buffer in
            stats.withUnsafeBufferPointer { s in
                applyGroupNormHWC(x + rows.lowerBound * width * self.channels, into: buffer, channels: self.channels,
                                  pixels: 0..<(rows.count * width), channelsPerGroup: self.channels / self.groups,
                                  statistics: s.baseAddress!, gamma: self.weight, beta: self.bias, silu: swish)
            }
        }
    }
}

/// taming's ResnetBlock: h = conv1(swish(norm1(x))); h = conv2(swish(norm2(h))); out = shortcut(x) + h.
final class ResnetBlock {
    let norm1: GroupNormLayer, conv1: ConvLayer, norm2: GroupNormLayer, conv2: ConvLayer
    let shortcut: ConvLayer?                                // 1x1, when the width changes
    let inChannels, outChannels: Int

    init(_ r: ComponentReader, _ prefix: String, in cin: Int, out cout: Int, config: VQGANConfig) throws {
        (inChannels, outChannels) = (cin, cout)
        norm1 = try GroupNormLayer(r, prefix + ".norm1", channels: cin, config: config)
        conv1 = try ConvLayer(r, prefix + ".conv1", kernel: 3, in: cin, out: cout)
        norm2 = try GroupNormLayer(r, prefix + ".norm2", channels: cout, config: config)
        conv2 = try ConvLayer(r, prefix + ".conv2", kernel: 3, in: cout, out: cout)
        shortcut = cin == cout ? nil : try ConvLayer(r, prefix + ".nin_shortcut", kernel: 1, in: cin, out: cout)
    }

    var convolutions: [ConvLayer] { [conv1, conv2] + (shortcut.map { [$0] } ?? []) }

    /// Runs the block on x [height * width, inChannels]; returns the output [height * width, outChannels], which
    /// is x itself (updated in place) when the width does not change.
    func callAsFunction(_ x: Tensor, height: Int, width: Int, pool: ThreadPool) -> Tensor {
        let pixels = height * width
        let h = Tensor(pixels: pixels, channels: outChannels)
        conv1(x.data, height: height, width: width, into: h.data, pool: pool,
              prepare: norm1.prepare(x.data, width: width, statistics: norm1.statistics(x.data, pixels: pixels), swish: true))
        let out: Tensor
        if let shortcut {
            out = Tensor(pixels: pixels, channels: outChannels)
            shortcut(x.data, height: height, width: width, into: out.data, pool: pool)
        } else {
            out = x
        }
        // out += conv2(swish(norm2(h))), band by band: a residual row is read only by its own band.
        conv2(h.data, height: height, width: width, into: out.data, add: true, pool: pool,
              prepare: norm2.prepare(h.data, width: width, statistics: norm2.statistics(h.data, pixels: pixels), swish: true))
        return out
    }
}

/// taming's AttnBlock: single-head self-attention over all pixels with 1x1-conv projections, plus the input.
final class AttentionBlock {
    let norm: GroupNormLayer, q: ConvLayer, k: ConvLayer, v: ConvLayer, projOut: ConvLayer
    let channels: Int

    init(_ r: ComponentReader, _ prefix: String, channels c: Int, config: VQGANConfig) throws {
        channels = c
        norm = try GroupNormLayer(r, prefix + ".norm", channels: c, config: config)
        q = try ConvLayer(r, prefix + ".q", kernel: 1, in: c, out: c)
        k = try ConvLayer(r, prefix + ".k", kernel: 1, in: c, out: c)
        v = try ConvLayer(r, prefix + ".v", kernel: 1, in: c, out: c)
        projOut = try ConvLayer(r, prefix + ".proj_out", kernel: 1, in: c, out: c)
    }

    var convolutions: [ConvLayer] { [q, k, v, projOut] }

    /// x += proj_out(attention(norm(x))), x [height * width, channels].
    func callAsFunction(_ x: Tensor, height: Int, width: Int, pool: ThreadPool) {
        let pixels = height * width, c = channels
        let normed = Tensor(pixels: pixels, channels: c)
        let stats = norm.statistics(x.data, pixels: pixels)
        norm.prepare(x.data, width: width, statistics: stats, swish: false)(0..<height, normed.data)
        let queries = Tensor(pixels: pixels, channels: c), keys = Tensor(pixels: pixels, channels: c)
        let values = Tensor(pixels: pixels, channels: c)
        q(normed.data, height: height, width: width, into: queries.data, pool: pool)
        k(normed.data, height: height, width: width, into: keys.data, pool: pool)
        v(normed.data, height: height, width: width, into: values.data, pool: pool)
        // One head of width C over all pixels: K and V as [1, pixels, C] caches are exactly the HWC tensors.
        let layout = KVCacheLayout(heads: 1, capacity: pixels, headDim: c)
        let attended = normed                                           // reuse: normed is no longer needed
        let chunk = 16
        pool.parallelFor((pixels + chunk - 1) / chunk) { task in
            let first = task * chunk, count = min(chunk, pixels - first)
            cachedAttention(queries: queries.data + first * c, queryStride: c, tokens: count,
                            keyCache: keys.data, valueCache: values.data, layout: layout, length: pixels,
                            causal: false, heads: 0..<1, output: attended.data + first * c, outputStride: c)
        }
        let projected = queries                                         // reuse
        projOut(attended.data, height: height, width: width, into: projected.data, pool: pool)
        addInPlace(x.data, projected.data, count: pixels * c)
    }
}

/// An owned HWC activation, [pixels, channels] floats.
final class Tensor {
    let pixels, channels: Int
    let data: UnsafeMutablePointer<Float>

    init(pixels: Int, channels: Int) {
        (self.pixels, self.channels) = (pixels, channels)
        data = .allocate(capacity: pixels * channels)
    }

    deinit { data.deallocate() }
}
