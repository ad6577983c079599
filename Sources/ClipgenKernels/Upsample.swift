// Nearest-neighbour 2x upsampling of an HWC tensor (the VQGAN decoder's `Upsample`, torch
// F.interpolate(scale_factor=2, mode="nearest")): out[y, x, c] = in[y / 2, x / 2, c].
//
// A plain copy, so it has no separate reference twin: the tests check it against that formula.
// `conv2d` can also read its input upsampled on the fly (`Conv2DGeometry.upsampleInput`), which is
// what the decoder should use to avoid materialising the 4x larger tensor; this kernel is for the rest.

/// Output rows `rows` (of 2 * height) of the 2x nearest upsampling of `input` [height, width, channels]
/// into `output` [2 * height, 2 * width, channels]; output row r is at `output + r * 2 * width * channels`.
public func upsampleNearest2x(input: UnsafePointer<Float>, height: Int, width: Int, channels: Int,
                              output: UnsafeMutablePointer<Float>, rows: Range<Int>) {
    precondition(rows.lowerBound >= 0 && rows.upperBound <= 2 * height, "rows outside the output")
    let outRow = 2 * width * channels
    for y in rows {
        let src = input + (y / 2) * width * channels  // [width, channels]
        let dst = output + y * outRow                  // [2 * width, channels]
        if y % 2 == 1 && y - 1 >= rows.lowerBound {
            // The odd row repeats the even row just written.
            dst.update(from: dst - outRow, count: outRow)
            continue
        }
        for x in 0..<width {
            (dst + 2 * x * channels).update(from: src + x * channels, count: channels)
            (dst + (2 * x + 1) * channels).update(from: src + x * channels, count: channels)
        }
    }
}
