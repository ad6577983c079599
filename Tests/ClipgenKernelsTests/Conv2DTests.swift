import Testing
import ClipgenKernels

/// Heap floats with a fixed pseudo-random fill in [-1, 1) (or zeros).
private func randomFloats(_ count: Int, seed: UInt32, zero: Bool = false) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    var state = seed
    for i in 0..<max(count, 1) {
        state = state &* 1_664_525 &+ 1_013_904_223
        p[i] = zero ? 0 : Float(Int32(bitPattern: state) >> 8) / 8_388_608
    }
    return p
}

private func bitsEqual(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Bool {
    (0..<count).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
}

/// One convolution's tensors: input, OIHW weights, packed weights, bias.
private struct ConvCase {
    let g: Conv2DGeometry
    let input, weights, packed, bias: UnsafeMutablePointer<Float>
    var inputCount: Int { g.height * g.width * g.inChannels / (g.upsampleInput ? 4 : 1) }
    var outputCount: Int { g.height * g.width * g.outChannels }

    init(_ g: Conv2DGeometry, seed: UInt32 = 7, zeroInput: Bool = false) {
        self.g = g
        let inputCount = g.height * g.width * g.inChannels / (g.upsampleInput ? 4 : 1)
        input = randomFloats(inputCount, seed: seed, zero: zeroInput)
        weights = randomFloats(g.outChannels * g.inChannels * g.kernelSize * g.kernelSize, seed: seed &+ 1)
        packed = .allocate(capacity: conv2dPackedWeightCount(g))
        conv2dPackWeights(g, oihw: weights, into: packed)
        bias = randomFloats(g.outChannels, seed: seed &+ 2)
    }

    func deallocate() { input.deallocate(); weights.deallocate(); packed.deallocate(); bias.deallocate() }

    func reference(bias useBias: Bool = true) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: outputCount)
        conv2dReference(g, input: input, oihw: weights, bias: useBias ? bias : nil, output: out)
        return out
    }

    /// The fast conv run as bands of `band` output rows over whole-image buffers.
    func fast(band: Int? = nil, bias useBias: Bool = true) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: outputCount)
        let step = band ?? g.height
        for y in stride(from: 0, to: g.height, by: step) {
            conv2d(g, input: input, weights: packed, bias: useBias ? bias : nil, output: out,
                   rows: y..<min(y + step, g.height))
        }
        return out
    }
}

@Suite struct Conv2DTests {
    @Test func fastMatchesReferenceBitForBit() {
        for kernelSize in [1, 3] {
            for (h, w) in [(1, 1), (3, 5), (7, 9), (8, 8), (2, 17)] {
                for (cin, cout) in [(1, 1), (3, 31), (33, 33), (7, 65)] {
                    for upsample in [false, true] where !upsample || (h % 2 == 0 && w % 2 == 0) {
                        let g = Conv2DGeometry(height: h, width: w, inChannels: cin, outChannels: cout,
                                               kernelSize: kernelSize, upsampleInput: upsample)
                        let c = ConvCase(g)
                        let useBias = (h + cin) % 2 == 0
                        let want = c.reference(bias: useBias), got = c.fast(bias: useBias)
                        #expect(bitsEqual(got, want, c.outputCount), "\(g)")
                        want.deallocate(); got.deallocate(); c.deallocate()
                    }
                }
            }
        }
    }

    @Test func bandedEqualsWholeBitForBit() {
        let g = Conv2DGeometry(height: 13, width: 11, inChannels: 31, outChannels: 40, kernelSize: 3)
        let c = ConvCase(g)
        defer { c.deallocate() }
        let whole = c.fast()
        defer { whole.deallocate() }
        for band in [1, 2, 3, 5, 8] {
            let got = c.fast(band: band)
            #expect(bitsEqual(got, whole, c.outputCount), "band \(band)")
            got.deallocate()
        }
    }

    /// Band buffers: the input band (with its halo rows) and the output band live in their own small buffers.
    @Test func bandBuffersWithRowOffsets() {
        for upsample in [false, true] {
            let g = Conv2DGeometry(height: 12, width: 10, inChannels: 17, outChannels: 33, kernelSize: 3,
                                   upsampleInput: upsample)
            let c = ConvCase(g)
            let whole = c.fast()
            let inRow = (upsample ? g.width / 2 : g.width) * g.inChannels, outRow = g.width * g.outChannels
            let inHeight = upsample ? g.height / 2 : g.height
            for rows in [0..<4, 4..<8, 8..<12, 5..<6] {
                // Input rows the band reads, in input coordinates.
                let lo = max((rows.lowerBound - 1) >> (upsample ? 1 : 0), 0)
                let hi = min((rows.upperBound) >> (upsample ? 1 : 0) + 1, inHeight)
                let inBand = UnsafeMutablePointer<Float>.allocate(capacity: (hi - lo) * inRow)
                inBand.update(from: c.input + lo * inRow, count: (hi - lo) * inRow)
                let outBand = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * outRow)
                conv2d(g, input: inBand, inputFirstRow: lo, weights: c.packed, bias: c.bias, output: outBand,
                       outputFirstRow: rows.lowerBound, rows: rows)
                #expect(bitsEqual(outBand, whole + rows.lowerBound * outRow, rows.count * outRow), "\(rows)")
                inBand.deallocate(); outBand.deallocate()
            }
            whole.deallocate(); c.deallocate()
        }
    }

    @Test func zeroInputGivesTheBiasExactly() {
        for kernelSize in [1, 3] {
            let g = Conv2DGeometry(height: 5, width: 33, inChannels: 33, outChannels: 31, kernelSize: kernelSize)
            let c = ConvCase(g, zeroInput: true)
            let got = c.fast(band: 2)
            for p in 0..<(g.height * g.width) {
                for co in 0..<g.outChannels { #expect(got[p * g.outChannels + co] == c.bias[co]) }
            }
            got.deallocate(); c.deallocate()
        }
    }

    @Test func upsampledInputEqualsExplicitUpsample() {
        let g = Conv2DGeometry(height: 10, width: 14, inChannels: 9, outChannels: 35, kernelSize: 3,
                               upsampleInput: true)
        let c = ConvCase(g)
        defer { c.deallocate() }
        let up = UnsafeMutablePointer<Float>.allocate(capacity: g.height * g.width * g.inChannels)
        defer { up.deallocate() }
        upsampleNearest2x(input: c.input, height: g.height / 2, width: g.width / 2, channels: g.inChannels,
                          output: up, rows: 0..<g.height)
        let plain = Conv2DGeometry(height: g.height, width: g.width, inChannels: g.inChannels,
                                   outChannels: g.outChannels, kernelSize: 3)
        let want = UnsafeMutablePointer<Float>.allocate(capacity: c.outputCount)
        conv2d(plain, input: up, weights: c.packed, bias: c.bias, output: want, rows: 0..<g.height)
        let got = c.fast(band: 3)
        #expect(bitsEqual(got, want, c.outputCount))
        want.deallocate(); got.deallocate()
    }

    @Test func upsampleMatchesIndexFormula() {
        let (h, w, ch) = (5, 7, 3)
        let input = randomFloats(h * w * ch, seed: 3)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: 4 * h * w * ch)
        defer { input.deallocate(); output.deallocate() }
        for rows in [0..<3, 3..<4, 4..<10] {
            upsampleNearest2x(input: input, height: h, width: w, channels: ch, output: output, rows: rows)
        }
        for y in 0..<(2 * h) {
            for x in 0..<(2 * w) {
                for c in 0..<ch {
                    #expect(output[(y * 2 * w + x) * ch + c] == input[((y / 2) * w + x / 2) * ch + c])
                }
            }
        }
    }
}

/// The model file's OHWI order packs to exactly the panels of the same weights in PyTorch's OIHW order.
@Test func ohwiPackingEqualsOIHWPacking() {
    for (k, cin, cout) in [(3, 5, 7), (1, 33, 17), (3, 32, 64)] {
        let g = Conv2DGeometry(height: 4, width: 4, inChannels: cin, outChannels: cout, kernelSize: k)
        let oihw = randomFloats(cout * cin * k * k, seed: UInt32(cin * cout))
        let ohwi = UnsafeMutablePointer<Float>.allocate(capacity: cout * cin * k * k)
        for co in 0..<cout {
            for ci in 0..<cin {
                for t in 0..<(k * k) { ohwi[(co * k * k + t) * cin + ci] = oihw[(co * cin + ci) * k * k + t] }
            }
        }
        let count = conv2dPackedWeightCount(g)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: count), b = UnsafeMutablePointer<Float>.allocate(capacity: count)
        conv2dPackWeights(g, oihw: oihw, into: a)
        conv2dPackWeights(g, ohwi: ohwi, into: b)
        #expect(bitsEqual(a, b, count), "k \(k) cin \(cin) cout \(cout)")
        [oihw, ohwi, a, b].forEach { $0.deallocate() }
    }
}
