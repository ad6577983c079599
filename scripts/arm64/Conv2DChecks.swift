// aarch64 checks of Conv2D.swift: `conv2d` (implicit GEMM, packed weights) against `conv2dReference` bit for bit for
// 3x3 and 1x1 kernels, with and without the fused 2x upsampling, with and without bias, and computed in two bands
// (each reading only its own input rows) equal to the whole image.
import ClipgenKernels

private func conv2dCase(_ g: Conv2DGeometry, bias useBias: Bool, zeros: Bool, seed: UInt64) {
    var random = SplitMix(seed: seed)
    let inH = g.upsampleInput ? g.height / 2 : g.height, inW = g.upsampleInput ? g.width / 2 : g.width
    let k = g.kernelSize
    let input = zeros ? [Float](repeating: 0, count: inH * inW * g.inChannels)
                      : random.floats(inH * inW * g.inChannels)            // [inH, inW, Cin]
    let weights = random.floats(g.outChannels * g.inChannels * k * k)       // [Cout, Cin, k, k]
    let bias = random.floats(g.outChannels)                                 // [Cout]
    var packed = [Float](repeating: 0, count: conv2dPackedWeightCount(g))
    weights.withUnsafeBufferPointer { w in
        packed.withUnsafeMutableBufferPointer { conv2dPackWeights(g, oihw: w.baseAddress!, into: $0.baseAddress!) }
    }
    let outCount = g.height * g.width * g.outChannels
    var want = [Float](repeating: .nan, count: outCount)                    // [H, W, Cout]
    var whole = want, banded = want
    let name = "conv2d \(k)x\(k) \(g.inChannels)->\(g.outChannels) at \(g.height)x\(g.width)"
        + (g.upsampleInput ? " upsampled" : "") + (useBias ? " bias" : "") + (zeros ? " zero input" : "")
    input.withUnsafeBufferPointer { pin in
        weights.withUnsafeBufferPointer { pw in
            packed.withUnsafeBufferPointer { pp in
                bias.withUnsafeBufferPointer { pbias in
                    let x = pin.baseAddress!, b = useBias ? pbias.baseAddress! : nil
                    want.withUnsafeMutableBufferPointer {
                        conv2dReference(g, input: x, oihw: pw.baseAddress!, bias: b, output: $0.baseAddress!)
                    }
                    whole.withUnsafeMutableBufferPointer {
                        conv2d(g, input: x, weights: pp.baseAddress!, bias: b, output: $0.baseAddress!,
                               rows: 0..<g.height)
                    }
                    // Two bands, each given only the input rows it reads and its own output rows.
                    let cut = g.height / 2 + 1
                    banded.withUnsafeMutableBufferPointer { pout in
                        for rows in [0..<cut, cut..<g.height] {
                            let shift = g.upsampleInput ? 1 : 0, pad = k / 2
                            let firstInput = max(0, rows.lowerBound - pad) >> shift
                            conv2d(g, input: x + firstInput * inW * g.inChannels, inputFirstRow: firstInput,
                                   weights: pp.baseAddress!, bias: b,
                                   output: pout.baseAddress! + rows.lowerBound * g.width * g.outChannels,
                                   outputFirstRow: rows.lowerBound, rows: rows)
                        }
                    }
                }
            }
        }
    }
    check(name + " vs conv2dReference", bitMismatches(whole, want) == 0, bitsDetail(whole, want))
    check(name + " in 2 bands vs whole", bitMismatches(banded, whole) == 0, bitsDetail(banded, whole))
}

func conv2dChecks() {
    let geometries = [
        Conv2DGeometry(height: 7, width: 9, inChannels: 5, outChannels: 11, kernelSize: 3),
        Conv2DGeometry(height: 6, width: 10, inChannels: 3, outChannels: 33, kernelSize: 3, upsampleInput: true),
        Conv2DGeometry(height: 5, width: 13, inChannels: 33, outChannels: 9, kernelSize: 1),
        Conv2DGeometry(height: 4, width: 6, inChannels: 31, outChannels: 17, kernelSize: 1, upsampleInput: true),
        Conv2DGeometry(height: 3, width: 1, inChannels: 1, outChannels: 1, kernelSize: 3),
        Conv2DGeometry(height: 9, width: 7, inChannels: 64, outChannels: 31, kernelSize: 3),
    ]
    var seed: UInt64 = 400
    for g in geometries {
        for useBias in [false, true] {
            seed += 1
            conv2dCase(g, bias: useBias, zeros: false, seed: seed)
        }
    }
    conv2dCase(geometries[0], bias: true, zeros: true, seed: 499)

    let g = Conv2DGeometry(height: 16, width: 16, inChannels: 32, outChannels: 32, kernelSize: 3)
    var random = SplitMix(seed: 498)
    let input = random.floats(16 * 16 * 32), weights = random.floats(32 * 32 * 9)
    var packed = [Float](repeating: 0, count: conv2dPackedWeightCount(g))
    var out = [Float](repeating: 0, count: 16 * 16 * 32)
    input.withUnsafeBufferPointer { pin in
        weights.withUnsafeBufferPointer { pw in
            packed.withUnsafeMutableBufferPointer { conv2dPackWeights(g, oihw: pw.baseAddress!, into: $0.baseAddress!) }
            packed.withUnsafeBufferPointer { pp in
                out.withUnsafeMutableBufferPointer { po in
                    let (x, w, p, o) = (pin.baseAddress!, pw.baseAddress!, pp.baseAddress!, po.baseAddress!)
                    timeLine("conv2d 3x3 32->32 at 16x16",
                             fast: { conv2d(g, input: x, weights: p, bias: nil, output: o, rows: 0..<16) },
                             reference: { conv2dReference(g, input: x, oihw: w, bias: nil, output: o) })
                }
            }
        }
    }
}
