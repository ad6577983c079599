// The int8 twin of `conv2d` (Conv2D.swift): Q8_0 weights straight from the model file, activations quantised to
// Q8_0 per output pixel, the products done by the Q8_0 GEMM kernel (Q8GEMV.swift). It exists so the decoder's
// choice between int8 and float convolution arithmetic is measured rather than guessed: `clipgen bench conv`
// decodes the same tokens both ways and prints the speed of each and the PSNR between them.
//
// Method: each output pixel's receptive field (taps (ky, kx), channels ci, the order of the file's rows
// [out, kh, kw, in]) is gathered into one row of K = k * k * Cin floats, quantised in blocks of 32 exactly as the
// transformer's activations are (`quantizeActivationsQ8_0`), and a chunk of `pixelsPerChunk` such rows is
// multiplied by the weights with `gemmQ8_0`, whose output layout ([pixel, Cout]) is the HWC output itself.
// The quantised receptive fields are the im2col matrix of the chunk only: 2 bytes per K value and pixel.

/// Output pixels quantised and multiplied together: each weight block read from L1/L2 serves this many pixels.
let conv2dQ8PixelsPerChunk = 16

/// Whether `conv2dQ8_0` can run geometry `g`: the reduction must be a whole number of Q8_0 blocks.
public func conv2dQ8_0Supports(_ g: Conv2DGeometry) -> Bool { g.reduction % Q8_0.blockValues == 0 }

/// Output rows `rows` of a convolution with Q8_0 weights (same bands, inputs and outputs as `conv2d`).
///
/// - Parameters:
///   - weights: `outChannels` Q8_0 rows of `g.reduction` values, ordered (ky, kx, ci) within a row: the layout a
///     clipgen model file stores convolutions in (ggml shape [in, kw, kh, out]).
///   - bias: [outChannels] or nil.
///   - input, inputFirstRow, output, outputFirstRow, rows: as for `conv2d`.
public func conv2dQ8_0(_ g: Conv2DGeometry, input: UnsafePointer<Float>, inputFirstRow: Int = 0,
                       weights: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                       output: UnsafeMutablePointer<Float>, outputFirstRow: Int = 0, rows: Range<Int>) {
    precondition(conv2dQ8_0Supports(g), "conv2dQ8_0: reduction \(g.reduction) is not a multiple of 32")
    precondition(rows.lowerBound >= 0 && rows.upperBound <= g.height, "conv2dQ8_0: rows \(rows) outside the image")
    let k = g.reduction, cin = g.inChannels, cout = g.outChannels
    let chunk = conv2dQ8PixelsPerChunk
    let field = UnsafeMutablePointer<Float>.allocate(capacity: k)              // one pixel's receptive field
    let values = UnsafeMutablePointer<Int16>.allocate(capacity: chunk * k)     // 64 bytes per block and pixel
    let scales = UnsafeMutablePointer<Float>.allocate(capacity: chunk * k / Q8_0.blockValues)
    defer { field.deallocate(); values.deallocate(); scales.deallocate() }
    let halo = g.kernelSize / 2
    let pixels = rows.count * g.width
    var first = 0
    while first < pixels {
        let n = Swift.min(chunk, pixels - first)
        for i in 0..<n {
            let y = rows.lowerBound + (first + i) / g.width, x = (first + i) % g.width
            var tap = field
            for ky in 0..<g.kernelSize {
                for kx in 0..<g.kernelSize {
                    let uy = y + ky - halo, ux = x + kx - halo                 // in output (upsampled) coordinates
                    if uy < 0 || uy >= g.height || ux < 0 || ux >= g.width {
                        tap.update(repeating: 0, count: cin)
                    } else {
                        let sy = g.upsampleInput ? uy / 2 : uy, sx = g.upsampleInput ? ux / 2 : ux
                        tap.update(from: input + ((sy - inputFirstRow) * g.inputWidth + sx) * cin, count: cin)
                    }
                    tap += cin
                }
            }
            quantizeActivationsQ8_0(field, count: k, values: values + i * k,
                                    scales: scales + i * (k / Q8_0.blockValues))
        }
        let out = output + ((rows.lowerBound - outputFirstRow) * g.width + first) * cout
        gemmQ8_0(weights: weights, columns: k, rows: 0..<cout, batch: n, activations: values, scales: scales,
                 output: out, outputStride: cout)
        if let bias {
            for i in 0..<n {
                let o = out + i * cout
                for c in 0..<cout { o[c] += bias[c] }
            }
        }
        first += n
    }
}
