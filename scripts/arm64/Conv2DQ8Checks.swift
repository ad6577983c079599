// aarch64 checks of Conv2DQ8.swift: `conv2dQ8_0` against its definition (each output pixel's receptive field,
// gathered here by plain loops, times the Q8_0 rows by `gemvQ8_0Reference`, plus the bias) for 3x3 and 1x1
// kernels, with and without the fused 2x upsampling, computed in two bands that each read only their own rows.
import ClipgenKernels

private func conv2dQ8Case(_ g: Conv2DGeometry, seed: UInt64) {
    var random = SplitMix(seed: seed)
    let inH = g.upsampleInput ? g.height / 2 : g.height, inW = g.upsampleInput ? g.width / 2 : g.width
    let k = g.reduction, halo = g.kernelSize / 2
    let input = random.floats(inH * inW * g.inChannels)                    // [inH, inW, Cin]
    let weights = random.floats(g.outChannels * k, -0.2, 0.2)              // [Cout, kh, kw, Cin]
    let bias = random.floats(g.outChannels)
    let rowBytes = Q8_0.rowBytes(columns: k)
    var quantized = [UInt8](repeating: 0, count: g.outChannels * rowBytes)
    quantized.withUnsafeMutableBytes { q in
        weights.withUnsafeBufferPointer { w in
            for o in 0..<g.outChannels { quantizeRowQ8_0(w.baseAddress! + o * k, count: k, into: q.baseAddress! + o * rowBytes) }
        }
    }
    var want = [Float](repeating: 0, count: g.height * g.width * g.outChannels)
    var field = [Float](repeating: 0, count: k), dots = [Float](repeating: 0, count: g.outChannels)
    for y in 0..<g.height {
        for x in 0..<g.width {
            var i = 0
            for ky in 0..<g.kernelSize {
                for kx in 0..<g.kernelSize {
                    let uy = y + ky - halo, ux = x + kx - halo
                    let inside = uy >= 0 && uy < g.height && ux >= 0 && ux < g.width
                    let sy = g.upsampleInput ? uy / 2 : uy, sx = g.upsampleInput ? ux / 2 : ux
                    for c in 0..<g.inChannels {
                        field[i] = inside ? input[(sy * inW + sx) * g.inChannels + c] : 0
                        i += 1
                    }
                }
            }
            quantized.withUnsafeBytes { q in
                field.withUnsafeBufferPointer { f in
                    dots.withUnsafeMutableBufferPointer {
                        gemvQ8_0Reference(weights: q.baseAddress!, columns: k, rows: 0..<g.outChannels,
                                          input: f.baseAddress!, output: $0.baseAddress!)
                    }
                }
            }
            for o in 0..<g.outChannels { want[(y * g.width + x) * g.outChannels + o] = dots[o] + bias[o] }
        }
    }
    var got = [Float](repeating: .nan, count: want.count)
    let cut = g.height / 2 + 1
    quantized.withUnsafeBytes { q in
        input.withUnsafeBufferPointer { pin in
            bias.withUnsafeBufferPointer { pb in
                got.withUnsafeMutableBufferPointer { pout in
                    for rows in [0..<cut, cut..<g.height] {
                        let shift = g.upsampleInput ? 1 : 0
                        let firstInput = max(0, rows.lowerBound - halo) >> shift
                        conv2dQ8_0(g, input: pin.baseAddress! + firstInput * inW * g.inChannels, inputFirstRow: firstInput,
                                   weights: q.baseAddress!, bias: pb.baseAddress!,
                                   output: pout.baseAddress! + rows.lowerBound * g.width * g.outChannels,
                                   outputFirstRow: rows.lowerBound, rows: rows)
                    }
                }
            }
        }
    }
    var worst: Float = 0
    for (a, b) in zip(got, want) { worst = max(worst, abs(a - b) / max(1, abs(b))) }
    let name = "conv2dQ8_0 \(g.kernelSize)x\(g.kernelSize) \(g.inChannels)->\(g.outChannels) at \(g.height)x\(g.width)"
        + (g.upsampleInput ? " upsampled" : "")
    check(name + " in 2 bands vs its definition", worst < 1e-4, "relative error " + sci(worst))
}

func conv2dQ8Checks() {
    conv2dQ8Case(Conv2DGeometry(height: 7, width: 9, inChannels: 32, outChannels: 17, kernelSize: 3), seed: 41)
    conv2dQ8Case(Conv2DGeometry(height: 6, width: 10, inChannels: 64, outChannels: 3, kernelSize: 3, upsampleInput: true),
                 seed: 42)
    conv2dQ8Case(Conv2DGeometry(height: 5, width: 13, inChannels: 32, outChannels: 40, kernelSize: 1), seed: 43)
}
