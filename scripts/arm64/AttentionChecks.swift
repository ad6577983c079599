// aarch64 checks of Attention.swift: cachedAttention against cachedAttentionReference within
// attentionAbsoluteTolerance over odd head sizes and lengths, causal and not; decoding one token at a time through
// KVCache equals the prefill bit for bit.
import ClipgenKernels

/// Attention of the last `tokens` of `length` positions, heads x headDim, by the fast kernel or the twin.
private func attended(heads: Int, headDim: Int, length: Int, tokens: Int, causal: Bool, reference: Bool,
                      keys: [Float], values: [Float], queries: [Float]) -> [Float] {
    let width = heads * headDim
    let layout = KVCacheLayout(heads: heads, capacity: length + 3, headDim: headDim)
    let cache = KVCache(layout: layout)
    keys.withUnsafeBufferPointer { k in
        values.withUnsafeBufferPointer { v in
            cache.append(keys: k.baseAddress!, keyStride: width, values: v.baseAddress!, valueStride: width,
                         tokens: length)
        }
    }
    var out = [Float](repeating: .nan, count: tokens * width)   // [tokens, heads * headDim]
    queries.withUnsafeBufferPointer { q in
        out.withUnsafeMutableBufferPointer { o in
            let qp = q.baseAddress! + (length - tokens) * width
            if reference {
                cachedAttentionReference(queries: qp, queryStride: width, tokens: tokens, keyCache: cache.keys,
                                         valueCache: cache.values, layout: layout, length: length, causal: causal,
                                         heads: 0..<heads, output: o.baseAddress!, outputStride: width)
            } else {
                cachedAttention(queries: qp, queryStride: width, tokens: tokens, keyCache: cache.keys,
                                valueCache: cache.values, layout: layout, length: length, causal: causal,
                                heads: 0..<heads, output: o.baseAddress!, outputStride: width)
            }
        }
    }
    return out
}

func attentionChecks() {
    for headDim in oddSizes + [64] {
        var worst: Float = 0
        for length in [1, 31, 33] {
            for causal in [true, false] {
                var random = SplitMix(seed: UInt64(headDim * 100 + length))
                let magnitude: Float = headDim >= 1000 ? 0.3 : 1, width = 3 * headDim
                let k = random.floats(length * width, -magnitude, magnitude), v = random.floats(length * width)
                let q = random.floats(length * width, -magnitude, magnitude)
                let fast = attended(heads: 3, headDim: headDim, length: length, tokens: length, causal: causal,
                                    reference: false, keys: k, values: v, queries: q)
                let slow = attended(heads: 3, headDim: headDim, length: length, tokens: length, causal: causal,
                                    reference: true, keys: k, values: v, queries: q)
                worst = max(worst, maxAbsDifference(fast, slow))
            }
        }
        check("cachedAttention vs reference, 3 heads x \(headDim), lengths 1/31/33, causal and not",
              worst <= attentionAbsoluteTolerance,
              "max abs diff " + sci(worst) + ", tolerance " + sci(attentionAbsoluteTolerance))
    }

    // Decode one position at a time through KVCache; compare with the causal prefill.
    let heads = 4, headDim = 64, length = 40, width = heads * headDim
    var random = SplitMix(seed: 3)
    let k = random.floats(length * width), v = random.floats(length * width), q = random.floats(length * width)
    let prefill = attended(heads: heads, headDim: headDim, length: length, tokens: length, causal: true,
                           reference: false, keys: k, values: v, queries: q)
    let cache = KVCache(layout: KVCacheLayout(heads: heads, capacity: length, headDim: headDim))
    var decoded = [Float](repeating: .nan, count: length * width)
    var countsOK = true
    k.withUnsafeBufferPointer { kp in
        v.withUnsafeBufferPointer { vp in
            q.withUnsafeBufferPointer { qp in
                decoded.withUnsafeMutableBufferPointer { dp in
                    for t in 0..<length {
                        cache.append(keys: kp.baseAddress! + t * width, keyStride: width,
                                     values: vp.baseAddress! + t * width, valueStride: width, tokens: 1)
                        countsOK = countsOK && cache.count == t + 1
                        cache.attend(queries: qp.baseAddress! + t * width, queryStride: width, tokens: 1,
                                     heads: 0..<heads, output: dp.baseAddress! + t * width, outputStride: width)
                    }
                }
            }
        }
    }
    check("KVCache decode one token at a time vs prefill, 4 x 64, 40 tokens",
          countsOK && bitMismatches(decoded, prefill) == 0, bitsDetail(decoded, prefill))

    let t = 77
    let kk = random.floats(t * 512), vv = random.floats(t * 512), qq = random.floats(t * 512)
    timeLine("causal attention 8 heads x 64, 77 tokens",
             fast: { _ = attended(heads: 8, headDim: 64, length: t, tokens: t, causal: true, reference: false,
                                  keys: kk, values: vv, queries: qq) },
             reference: { _ = attended(heads: 8, headDim: 64, length: t, tokens: t, causal: true, reference: true,
                                       keys: kk, values: vv, queries: qq) })
}
