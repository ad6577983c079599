// Tests of cached attention: SIMD16 against the scalar twin over odd head sizes and lengths, decode-one-at-a-time
// equals prefill, one position returns V, head splits give identical bits, the cache advances one row per token.
import Testing
import ClipgenKernels

/// A filled cache plus queries for the last `tokens` positions; rows are [tokens, heads * headDim].
private struct AttentionCase {
    let layout: KVCacheLayout
    let length: Int
    let keys: [Float]      // [length, heads * headDim]
    let values: [Float]    // [length, heads * headDim]
    let queries: [Float]   // [length, heads * headDim], one query row per position
    let cache: KVCache

    init(heads: Int, headDim: Int, length: Int, seed: UInt64, magnitude: Float = 1) {
        var random = SplitMixFloats(seed: seed)
        layout = KVCacheLayout(heads: heads, capacity: length + 3, headDim: headDim)
        self.length = length
        keys = random.array(length * heads * headDim, -magnitude, magnitude)
        values = random.array(length * heads * headDim, -1, 1)
        queries = random.array(length * heads * headDim, -magnitude, magnitude)
        cache = KVCache(layout: layout)
        cache.append(keys: keys, keyStride: heads * headDim, values: values, valueStride: heads * headDim,
                     tokens: length)
    }

    var width: Int { layout.heads * layout.headDim }

    /// Attention of the last `tokens` query rows over the whole cache, for `heads`, by the fast kernel or the twin.
    func run(tokens: Int, heads: Range<Int>? = nil, causal: Bool = true, reference: Bool = false,
             into output: inout [Float]) {
        let q = Array(queries[(length - tokens) * width..<length * width])
        let f = reference ? cachedAttentionReference : cachedAttention
        f(q, width, tokens, cache.keys, cache.values, layout, length, causal, heads ?? 0..<layout.heads, &output, width)
    }

    func run(tokens: Int, causal: Bool = true, reference: Bool = false) -> [Float] {
        var out = [Float](repeating: .nan, count: tokens * width)
        run(tokens: tokens, causal: causal, reference: reference, into: &out)
        return out
    }
}

@Test func attentionMatchesReferenceOverOddSizes() {
    var worst: Float = 0
    for headDim in oddSizes + [64] {
        for length in [1, 31, 33] {
            for causal in [true, false] {
                let c = AttentionCase(heads: 3, headDim: headDim, length: length, seed: UInt64(headDim * 100 + length),
                                      magnitude: headDim >= 1000 ? 0.3 : 1)
                let fast = c.run(tokens: length, causal: causal)
                let slow = c.run(tokens: length, causal: causal, reference: true)
                let diff = zip(fast, slow).map { abs($0 - $1) }.max()!
                worst = max(worst, diff)
                #expect(diff <= attentionAbsoluteTolerance, "headDim \(headDim) length \(length) causal \(causal)")
            }
        }
    }
    print("attention SIMD vs scalar twin: max abs difference \(worst)")
}

@Test func attentionOnZeroAndLargeInputsStaysFinite() {
    let zero = AttentionCase(heads: 2, headDim: 33, length: 31, seed: 1, magnitude: 0)
    let out = zero.run(tokens: 31)
    let reference = zero.run(tokens: 31, reference: true)
    #expect(zip(out, reference).allSatisfy { abs($0 - $1) <= attentionAbsoluteTolerance })
    // Scores of +-1e4 * 1e4 * 64 / 8: the max-subtracted softmax must not overflow.
    let large = AttentionCase(heads: 2, headDim: 64, length: 33, seed: 2, magnitude: 1e4)
    let big = large.run(tokens: 33)
    #expect(big.allSatisfy { $0.isFinite && abs($0) <= 1 })
}

@Test func decodingOneTokenAtATimeEqualsPrefill() {
    let heads = 4, headDim = 64, length = 40
    let c = AttentionCase(heads: heads, headDim: headDim, length: length, seed: 3)
    let prefill = c.run(tokens: length)
    // Decode: a fresh cache, one position appended per step, attention of that position alone.
    let cache = KVCache(layout: c.layout)
    var decoded = [Float](repeating: .nan, count: length * c.width)
    for t in 0..<length {
        let row = t * c.width
        cache.append(keys: Array(c.keys[row..<row + c.width]), keyStride: c.width,
                     values: Array(c.values[row..<row + c.width]), valueStride: c.width, tokens: 1)
        #expect(cache.count == t + 1)
        var out = [Float](repeating: .nan, count: c.width)
        cache.attend(queries: Array(c.queries[row..<row + c.width]), queryStride: c.width, tokens: 1,
                     heads: 0..<heads, output: &out, outputStride: c.width)
        decoded.replaceSubrange(row..<row + c.width, with: out)
    }
    let diff = zip(prefill, decoded).map { abs($0 - $1) }.max()!
    #expect(diff <= attentionAbsoluteTolerance)
    #expect(prefill == decoded)   // same code path per (query, head): identical bits today
}

@Test func attentionOverOnePositionReturnsV() {
    for headDim in oddSizes {
        let c = AttentionCase(heads: 2, headDim: headDim, length: 1, seed: UInt64(headDim))
        #expect(c.run(tokens: 1) == c.values)
    }
}

@Test func headSplitsGiveIdenticalBits() {
    let c = AttentionCase(heads: 7, headDim: 48, length: 29, seed: 5)
    let whole = c.run(tokens: 5)
    for split in [[0..<7], [0..<1, 1..<7], [0..<3, 3..<4, 4..<7], (0..<7).map { $0..<$0 + 1 }] {
        var out = [Float](repeating: .nan, count: 5 * c.width)
        for part in split.reversed() { c.run(tokens: 5, heads: part, into: &out) }
        #expect(out == whole)
    }
}

@Test func kvCacheAppendsRowsAtTheRightPlaces() {
    let layout = KVCacheLayout(heads: 3, capacity: 10, headDim: 5)
    let cache = KVCache(layout: layout)
    // A fused QKV-like row of width 3 * 15: keys at column 15, values at column 30.
    let qkv: [Float] = (0..<2 * 45).map { Float($0) }
    qkv.withUnsafeBufferPointer { p in
        cache.append(keys: p.baseAddress! + 15, keyStride: 45, values: p.baseAddress! + 30, valueStride: 45, tokens: 2)
    }
    #expect(cache.count == 2)
    for t in 0..<2 {
        for h in 0..<3 {
            for i in 0..<5 {
                #expect(cache.keys[layout.offset(head: h, position: t) + i] == qkv[t * 45 + 15 + h * 5 + i])
                #expect(cache.values[layout.offset(head: h, position: t) + i] == qkv[t * 45 + 30 + h * 5 + i])
            }
        }
    }
    cache.reset()
    #expect(cache.count == 0)
}

/// A binary16 cache: values are rounded to nearest-even when appended (as `halfBitsFromFloat`), attention over it
/// (keys stored transposed) matches the Float kernel over the rounded values within the attention tolerance, and
/// one-at-a-time decoding equals the prefill bit for bit.
@Test func halfPrecisionCacheMatchesFloatKernelOnRoundedValues() {
    for (headDim, length) in [(64, 40), (33, 17), (1, 5), (80, 33)] {
        let heads = 3, width = heads * headDim
        var random = SplitMixFloats(seed: UInt64(headDim * 7 + length))
        let keys = random.array(length * width, -2, 2), values = random.array(length * width, -1, 1)
        let queries = random.array(length * width, -2, 2)
        let layout = KVCacheLayout(heads: heads, capacity: length, headDim: headDim)
        let half = KVCacheF16(layout: layout)
        half.append(keys: keys, keyStride: width, values: values, valueStride: width, tokens: length)
        // The Float cache of the same values rounded through binary16.
        let rounded = KVCache(layout: layout)
        let round = { (x: [Float]) in x.map { floatFromHalfBits(halfBitsFromFloat($0)) } }
        rounded.append(keys: round(keys), keyStride: width, values: round(values), valueStride: width, tokens: length)
        for h in 0..<heads {
            for j in 0..<length {
                for i in 0..<headDim where half.key(head: h, position: j, dimension: i).bits
                    != halfBitsFromFloat(rounded.keys[layout.offset(head: h, position: j) + i]) {
                    Issue.record("key (\(h), \(j), \(i)) rounded differently")
                }
            }
        }
        for causal in [true, false] {
            var a = [Float](repeating: .nan, count: length * width), b = a
            half.attend(queries: queries, queryStride: width, tokens: length, heads: 0..<heads, causal: causal,
                        output: &a, outputStride: width)
            rounded.attend(queries: queries, queryStride: width, tokens: length, heads: 0..<heads, causal: causal,
                           output: &b, outputStride: width)
            let difference = zip(a, b).map { abs($0 - $1) }.max()!
            #expect(difference <= attentionAbsoluteTolerance, "headDim \(headDim) length \(length) causal \(causal): \(difference)")
        }
        // Decoding one position at a time through the F16 cache equals the causal prefill above.
        let stepwise = KVCacheF16(layout: layout)
        var prefill = [Float](repeating: .nan, count: length * width), decoded = prefill
        half.attend(queries: queries, queryStride: width, tokens: length, heads: 0..<heads, causal: true,
                    output: &prefill, outputStride: width)
        for t in 0..<length {
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    stepwise.append(keys: k.baseAddress! + t * width, keyStride: width, values: v.baseAddress! + t * width,
                                    valueStride: width, tokens: 1)
                }
            }
            queries.withUnsafeBufferPointer { q in
                decoded.withUnsafeMutableBufferPointer { o in
                    stepwise.attend(queries: q.baseAddress! + t * width, queryStride: width, tokens: 1, heads: 0..<heads,
                                    causal: true, output: o.baseAddress! + t * width, outputStride: width)
                }
            }
        }
        #expect(decoded.map(\.bitPattern) == prefill.map(\.bitPattern), "F16 decode != prefill, headDim \(headDim)")
    }
}
