// Bicubic resampling as Pillow does it (Image.resize with BICUBIC, the resize of CLIP's preprocessing): separable,
// a = -0.5, and when shrinking the kernel is widened by the scale factor (antialiasing), clipped to [0, 1] after each
// pass. Float output; Pillow also rounds 8-bit images after each pass, so results agree within about one level in 255.

extension RGBImage {
    /// The image resampled to `width` x `height`, as floats in [0, 1], HWC.
    public func resampledBicubic(width outWidth: Int, height outHeight: Int) -> [Float] {
        precondition(outWidth > 0 && outHeight > 0, "resample to a positive size")
        let source = pixels.map { Float($0) / 255 }
        // Rows first: [height, width, 3] -> [height, outWidth, 3].
        let horizontal = resampleAxis(source, length: width, lines: height, newLength: outWidth,
                                      input: (sample: 3, line: width * 3), output: (sample: 3, line: outWidth * 3))
            .map { min(max($0, 0), 1) }                                        // Pillow clips after each pass
        // Then columns: [height, outWidth, 3] -> [outHeight, outWidth, 3].
        return resampleAxis(horizontal, length: height, lines: outWidth, newLength: outHeight,
                            input: (sample: outWidth * 3, line: 3), output: (sample: outWidth * 3, line: 3))
            .map { min(max($0, 0), 1) }
    }
}

/// Pillow's bicubic filter (a = -0.5), support 2.
private func bicubic(_ x: Double) -> Double {
    let a = -0.5, t = abs(x)
    if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
    if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
    return 0
}

/// Resamples along one axis: `lines` lines of `length` RGB samples (sample i of line l at `l * input.line + i *
/// input.sample`) to `newLength` samples per line (written at `l * output.line + i * output.sample`).
private func resampleAxis(_ data: [Float], length: Int, lines: Int, newLength: Int,
                          input: (sample: Int, line: Int), output: (sample: Int, line: Int)) -> [Float] {
    let scale = Double(length) / Double(newLength)
    let filterScale = max(scale, 1)
    let support = 2 * filterScale
    // Taps and normalised weights per output sample (Pillow's precompute_coeffs).
    var taps: [(first: Int, weights: [Float])] = []
    for i in 0..<newLength {
        let center = (Double(i) + 0.5) * scale
        let first = max(0, Int((center - support + 0.5).rounded(.down)))
        let last = min(length, Int((center + support + 0.5).rounded(.down)))
        var weights = (first..<last).map { bicubic((Double($0) - center + 0.5) / filterScale) }
        let total = weights.reduce(0, +)
        if total != 0 { weights = weights.map { $0 / total } }
        taps.append((first, weights.map(Float.init)))
    }
    var out = [Float](repeating: 0, count: lines * newLength * 3)
    for l in 0..<lines {
        for (i, tap) in taps.enumerated() {
            for c in 0..<3 {
                var sum: Float = 0
                for (k, w) in tap.weights.enumerated() { sum += w * data[l * input.line + (tap.first + k) * input.sample + c] }
                out[l * output.line + i * output.sample + c] = sum
            }
        }
    }
    return out
}
