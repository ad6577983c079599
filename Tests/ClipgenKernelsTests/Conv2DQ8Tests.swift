import Testing
import ClipgenKernels

/// `conv2dQ8_0` against its definition: for every output pixel, the receptive field gathered here by plain loops
/// (zero padding, optional nearest 2x upsampling), multiplied by the Q8_0 rows with `gemvQ8_0Reference` (which
/// quantises the activations as ggml does), plus the bias.
@Suite struct Conv2DQ8Tests {
    struct Case {
        let g: Conv2DGeometry
        var input: [Float], weights: [Float], bias: [Float]   // input HWC; weights OHWI rows [out, k, k, in]
        let quantized: UnsafeMutableRawPointer                  // the weights as Q8_0 rows

        init(_ g: Conv2DGeometry, seed: UInt64) {
            self.g = g
            var rng = SplitMix64(state: seed)
            let inputPixels = g.height * g.width / (g.upsampleInput ? 4 : 1)
            input = (0..<(inputPixels * g.inChannels)).map { _ in rng.float() }
            let k = g.kernelSize * g.kernelSize * g.inChannels
            weights = (0..<(g.outChannels * k)).map { _ in rng.float() * 0.2 }
            bias = (0..<g.outChannels).map { _ in rng.float() }
            let rowBytes = Q8_0.rowBytes(columns: k)
            quantized = .allocate(byteCount: g.outChannels * rowBytes, alignment: 16)
            for o in 0..<g.outChannels {
                weights.withUnsafeBufferPointer { quantizeRowQ8_0($0.baseAddress! + o * k, count: k,
                                                                  into: quantized + o * rowBytes) }
            }
        }

        /// Output pixel (y, x)'s receptive field, ordered (ky, kx, ci).
        func field(_ y: Int, _ x: Int) -> [Float] {
            var out: [Float] = []
            let halo = g.kernelSize / 2, inputWidth = g.upsampleInput ? g.width / 2 : g.width
            for ky in 0..<g.kernelSize {
                for kx in 0..<g.kernelSize {
                    let uy = y + ky - halo, ux = x + kx - halo
                    let inside = uy >= 0 && uy < g.height && ux >= 0 && ux < g.width
                    let (sy, sx) = g.upsampleInput ? (uy / 2, ux / 2) : (uy, ux)
                    for c in 0..<g.inChannels { out.append(inside ? input[(sy * inputWidth + sx) * g.inChannels + c] : 0) }
                }
            }
            return out
        }

        func expected() -> [Float] {
            var out = [Float](repeating: 0, count: g.height * g.width * g.outChannels)
            let k = g.kernelSize * g.kernelSize * g.inChannels
            for y in 0..<g.height {
                for x in 0..<g.width {
                    let f = field(y, x)
                    var dots = [Float](repeating: 0, count: g.outChannels)
                    f.withUnsafeBufferPointer { gemvQ8_0Reference(weights: quantized, columns: k, rows: 0..<g.outChannels,
                                                                  input: $0.baseAddress!, output: &dots) }
                    for o in 0..<g.outChannels { out[(y * g.width + x) * g.outChannels + o] = dots[o] + bias[o] }
                }
            }
            return out
        }

        /// The kernel run in bands of `band` rows, each band reading only its own input rows (plus halo) from a
        /// private copy, as the decoder's banded convolutions do.
        func run(band: Int) -> [Float] {
            var out = [Float](repeating: .nan, count: g.height * g.width * g.outChannels)
            let halo = g.kernelSize / 2, inputWidth = g.upsampleInput ? g.width / 2 : g.width
            let inputHeight = g.upsampleInput ? g.height / 2 : g.height
            for y0 in stride(from: 0, to: g.height, by: band) {
                let rows = y0..<min(g.height, y0 + band)
                let first = max(0, g.upsampleInput ? (rows.lowerBound - halo) / 2 : rows.lowerBound - halo)
                let last = min(inputHeight, (g.upsampleInput ? (rows.upperBound - 1 + halo) / 2 : rows.upperBound - 1 + halo) + 1)
                let slice = Array(input[(first * inputWidth * g.inChannels)..<(last * inputWidth * g.inChannels)])
                var part = [Float](repeating: .nan, count: rows.count * g.width * g.outChannels)
                slice.withUnsafeBufferPointer { s in
                    bias.withUnsafeBufferPointer { b in
                        part.withUnsafeMutableBufferPointer { p in
                            conv2dQ8_0(g, input: s.baseAddress!, inputFirstRow: first, weights: quantized,
                                       bias: b.baseAddress!, output: p.baseAddress!, outputFirstRow: rows.lowerBound,
                                       rows: rows)
                        }
                    }
                }
                out.replaceSubrange((rows.lowerBound * g.width * g.outChannels)..<(rows.upperBound * g.width * g.outChannels),
                                    with: part)
            }
            return out
        }
    }

    @Test(arguments: [(3, false), (3, true), (1, false)])
    func matchesItsDefinitionInAnyBands(kernel: Int, upsample: Bool) {
        for (h, w, cin, cout) in [(6, 10, 32, 17), (4, 4, 64, 3), (2, 18, 32, 64)] {
            let g = Conv2DGeometry(height: h, width: w, inChannels: cin, outChannels: cout, kernelSize: kernel,
                                   upsampleInput: upsample)
            #expect(conv2dQ8_0Supports(g))
            let c = Case(g, seed: UInt64(h * 1000 + cin + kernel))
            defer { c.quantized.deallocate() }
            let want = c.expected()
            for band in [1, 3, g.height] {
                let got = c.run(band: band)
                let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst < 1e-4, "\(g) band \(band): relative error \(worst)")
            }
        }
    }

    @Test func staysCloseToTheFloatConvolution() {
        // int8 activations cost accuracy; the float convolution of the dequantised weights is the yardstick.
        let g = Conv2DGeometry(height: 8, width: 8, inChannels: 64, outChannels: 32, kernelSize: 3)
        let c = Case(g, seed: 5)
        defer { c.quantized.deallocate() }
        let k = g.reduction
        var oihw = [Float](repeating: 0, count: g.outChannels * k)
        var row = [Float](repeating: 0, count: k)
        for o in 0..<g.outChannels {
            row.withUnsafeMutableBufferPointer {
                dequantizeRowQ8_0(c.quantized + o * Q8_0.rowBytes(columns: k), count: k, into: $0.baseAddress!)
            }
            for ky in 0..<3 { for kx in 0..<3 { for ci in 0..<g.inChannels {
                oihw[((o * g.inChannels + ci) * 3 + ky) * 3 + kx] = row[(ky * 3 + kx) * g.inChannels + ci]
            } } }
        }
        var float = [Float](repeating: 0, count: g.height * g.width * g.outChannels)
        c.input.withUnsafeBufferPointer { i in oihw.withUnsafeBufferPointer { w in c.bias.withUnsafeBufferPointer { b in
            conv2dReference(g, input: i.baseAddress!, oihw: w.baseAddress!, bias: b.baseAddress!, output: &float)
        } } }
        let int8 = c.run(band: g.height)
        let rms = (zip(int8, float).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(float.count)).squareRoot()
        let scale = (float.map { $0 * $0 }.reduce(0, +) / Float(float.count)).squareRoot()
        #expect(rms / scale < 0.02, "int8 rms error \(rms) against signal \(scale)")
        #expect(rms > 0, "activations quantised to int8 cannot be exact on random data")
    }
}
