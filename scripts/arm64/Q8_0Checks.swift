// aarch64 checks of Q8_0.swift: the vectorised quantiser against ggml's reference (`quantizeRowQ8_0Reference`),
// byte for byte, over 1, 31, 33 and 1023 blocks with all-zero and tie blocks; the activation scales against the
// same reference; the dequantise round trip within the bound the format implies.
import ClipgenKernels

/// Test rows: random, one all-zero block among random ones, and exact .5 ties after scaling.
private func q8Inputs(blocks: Int, seed: UInt64) -> [[Float]] {
    var random = SplitMix(seed: seed)
    let n = blocks * 32
    var zeroBlock = random.floats(n, -3, 3)
    for j in 0..<32 { zeroBlock[(blocks / 2) * 32 + j] = 0 }
    var ties = [Float](repeating: 0, count: n)
    for i in 0..<n { ties[i] = i % 32 == 0 ? 127 : Float(i % 32) - 15.5 }   // d = 1: x * id lands on .5
    return [random.floats(n, -1, 1), zeroBlock, ties, [Float](repeating: 0, count: n)]
}

private func quantized(_ x: [Float], fast: Bool) -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: x.count / 32 * Q8_0.blockBytes)
    x.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBytes {
            if fast { quantizeRowQ8_0(px.baseAddress!, count: x.count, into: $0.baseAddress!) }
            else { quantizeRowQ8_0Reference(px.baseAddress!, count: x.count, into: $0.baseAddress!) }
        }
    }
    return out
}

func q8Checks() {
    for blocks in oddSizes {
        var byteBad = 0, scaleBad = 0
        var worstExcess: Float = 0
        for x in q8Inputs(blocks: blocks, seed: 900 + UInt64(blocks)) {
            let want = quantized(x, fast: false), got = quantized(x, fast: true)
            for i in 0..<want.count where want[i] != got[i] { byteBad += 1 }

            // Activations for the GEMV: the scales are the reference's binary16 scales as Float (the codes'
            // storage is the GEMV's private contract, checked through the GEMV against its reference).
            var values = [Int16](repeating: 0, count: x.count), scales = [Float](repeating: 0, count: blocks)
            x.withUnsafeBufferPointer { px in
                values.withUnsafeMutableBufferPointer { pv in
                    scales.withUnsafeMutableBufferPointer { ps in
                        quantizeActivationsQ8_0(px.baseAddress!, count: x.count, values: pv.baseAddress!,
                                                scales: ps.baseAddress!)
                    }
                }
            }
            var back = [Float](repeating: .nan, count: x.count)
            want.withUnsafeBytes { pq in
                back.withUnsafeMutableBufferPointer { dequantizeRowQ8_0(pq.baseAddress!, count: x.count, into: $0.baseAddress!) }
            }
            for b in 0..<blocks {
                let o = b * Q8_0.blockBytes
                let half = UInt16(want[o]) | UInt16(want[o + 1]) << 8
                let d16 = floatFromHalfBits(half)
                if scales[b].bitPattern != d16.bitPattern { scaleBad += 1 }
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, x[b * 32 + j].magnitude) }
                let d = amax / 127
                // Round trip: rounding to the code costs d / 2, storing d as binary16 costs 127 |d16 - d|.
                let bound = 0.5 * d + 127 * (d16 - d).magnitude + 2 * amax.ulp
                for j in 0..<32 {
                    worstExcess = max(worstExcess, (x[b * 32 + j] - back[b * 32 + j]).magnitude - bound)
                }
            }
        }
        check("quantizeRowQ8_0 vs quantizeRowQ8_0Reference, \(blocks) blocks", byteBad == 0,
              byteBad == 0 ? "byte-exact, random / zero block / ties / all zero" : "\(byteBad) bytes differ")
        check("quantizeActivationsQ8_0 scales vs reference binary16 scales, \(blocks) blocks",
              scaleBad == 0, "\(scaleBad) wrong")
        check("dequantizeRowQ8_0 round trip within d/2 + 127|d16 - d|, \(blocks) blocks", worstExcess <= 0,
              "worst excess over the bound " + sci(worstExcess))
    }

    var random = SplitMix(seed: 999)
    let x = random.floats(4096)
    var q = [UInt8](repeating: 0, count: 128 * Q8_0.blockBytes)
    x.withUnsafeBufferPointer { px in
        q.withUnsafeMutableBytes { pq in
            let (s, d) = (px.baseAddress!, pq.baseAddress!)
            timeLine("quantizeRowQ8_0 4096", fast: { quantizeRowQ8_0(s, count: 4096, into: d) },
                     reference: { quantizeRowQ8_0Reference(s, count: 4096, into: d) })
        }
    }
}
