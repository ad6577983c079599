// aarch64 checks of Upsample.swift: nearest 2x upsampling equals out[y, x, c] = in[y / 2, x / 2, c], whole and in
// bands that start on odd rows.
import ClipgenKernels

func upsampleChecks() {
    for (h, w, c) in [(3, 5, 7), (1, 1, 1), (4, 3, 33)] {
        var random = SplitMix(seed: UInt64(h * 100 + w * 10 + c))
        let input = random.floats(h * w * c)                                  // [h, w, c]
        var want = [Float](repeating: 0, count: 4 * h * w * c)                // [2h, 2w, c]
        for y in 0..<2 * h {
            for x in 0..<2 * w {
                for ch in 0..<c { want[(y * 2 * w + x) * c + ch] = input[((y / 2) * w + x / 2) * c + ch] }
            }
        }
        var whole = [Float](repeating: .nan, count: want.count), banded = whole
        input.withUnsafeBufferPointer { pin in
            whole.withUnsafeMutableBufferPointer {
                upsampleNearest2x(input: pin.baseAddress!, height: h, width: w, channels: c, output: $0.baseAddress!,
                                  rows: 0..<2 * h)
            }
            banded.withUnsafeMutableBufferPointer { pout in
                for rows in [0..<1, 1..<2 * h - 1, 2 * h - 1..<2 * h] where !rows.isEmpty {
                    upsampleNearest2x(input: pin.baseAddress!, height: h, width: w, channels: c,
                                      output: pout.baseAddress!, rows: rows)
                }
            }
        }
        check("upsampleNearest2x \(h)x\(w)x\(c) vs formula", bitMismatches(whole, want) == 0, bitsDetail(whole, want))
        check("upsampleNearest2x \(h)x\(w)x\(c) in odd-row bands vs formula", bitMismatches(banded, want) == 0,
              bitsDetail(banded, want))
    }
}
