// aarch64 checks of KVCacheF16.swift: attention over a binary16 cache (keys transposed) matches the Float kernel over
// the rounded values within the attention tolerance, and decoding one position at a time equals the prefill.
import ClipgenKernels

func kvCacheF16Checks() {
    for (headDim, length) in [(64, 40), (33, 17)] {
        let heads = 3, width = heads * headDim
        var random = SplitMix(seed: UInt64(headDim * 7 + length))
        let keys = random.floats(length * width, -2, 2), values = random.floats(length * width, -1, 1)
        let queries = random.floats(length * width, -2, 2)
        let layout = KVCacheLayout(heads: heads, capacity: length, headDim: headDim)
        let half = KVCacheF16(layout: layout)
        half.append(keys: keys, keyStride: width, values: values, valueStride: width, tokens: length)
        let roundedKeys = keys.map { floatFromHalfBits(halfBitsFromFloat($0)) }
        let roundedValues = values.map { floatFromHalfBits(halfBitsFromFloat($0)) }
        let rounded = KVCache(layout: layout)
        rounded.append(keys: roundedKeys, keyStride: width, values: roundedValues, valueStride: width, tokens: length)
        var a = [Float](repeating: .nan, count: length * width), b = a
        half.attend(queries: queries, queryStride: width, tokens: length, heads: 0..<heads, causal: true,
                    output: &a, outputStride: width)
        rounded.attend(queries: queries, queryStride: width, tokens: length, heads: 0..<heads, causal: true,
                       output: &b, outputStride: width)
        check("F16 cache attention vs Float kernel on rounded values, \(heads) x \(headDim), \(length) positions",
              maxAbsDifference(a, b) <= attentionAbsoluteTolerance, "max abs \(sci(maxAbsDifference(a, b)))")
        let stepwise = KVCacheF16(layout: layout)
        var decoded = [Float](repeating: .nan, count: length * width)
        for t in 0..<length {
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    stepwise.append(keys: k.baseAddress! + t * width, keyStride: width,
                                    values: v.baseAddress! + t * width, valueStride: width, tokens: 1)
                }
            }
            queries.withUnsafeBufferPointer { q in
                decoded.withUnsafeMutableBufferPointer { o in
                    stepwise.attend(queries: q.baseAddress! + t * width, queryStride: width, tokens: 1,
                                    heads: 0..<heads, causal: true, output: o.baseAddress! + t * width, outputStride: width)
                }
            }
        }
        check("F16 cache one-at-a-time decode vs prefill, \(heads) x \(headDim)", bitMismatches(decoded, a) == 0,
              bitsDetail(decoded, a))
    }
}
