// Scaled dot-product attention of new query positions against a key/value cache, SIMD16, with a scalar reference
// twin. Used causally by the CLIP text tower (prefill of 77 tokens) and the GPT (one prefix token, then one token
// per decode step), and without a mask by the VQGAN's single-head attention over 16x16 positions.
//
// Layouts (row-major, Float):
//   queries   [tokens, heads, headDim]          row stride `queryStride` >= heads * headDim, so the Q third of a
//                                               fused QKV projection output ([tokens, 3 * d]) is used in place
//   K, V      [heads, capacity, headDim] each   one head's positions are contiguous: the score and value loops
//                                               stream them; stored as Float or as binary16 (KVCacheF16.swift),
//                                               read through `CacheElement`, the only difference between the two
//   output    [tokens, heads * headDim]         row stride `outputStride`
// Query t of a block of `tokens` sits at position length - tokens + t. Each (query, head) pair is computed by the
// same code whatever the block size or head split, so decoding one token at a time equals a prefill bit for bit.

/// Shape of one layer's key/value cache: keys and values are each `[heads, capacity, headDim]` Float.
public struct KVCacheLayout: Equatable, Sendable {
    /// Attention heads.
    public var heads: Int
    /// Positions the cache can hold.
    public var capacity: Int
    /// Floats per head per position.
    public var headDim: Int

    /// A layout; all sizes must be positive.
    public init(heads: Int, capacity: Int, headDim: Int) {
        precondition(heads > 0 && capacity > 0 && headDim > 0, "KV cache sizes must be positive")
        self.heads = heads
        self.capacity = capacity
        self.headDim = headDim
    }

    /// Floats in each of the key and value tensors.
    public var elementCount: Int { heads * capacity * headDim }

    /// Offset of (head, position, 0) in a key or value tensor.
    @inline(__always) public func offset(head: Int, position: Int) -> Int {
        (head * capacity + position) * headDim
    }
}

/// Copies the K and V rows of new positions into a cache.
/// - Parameters:
///   - keys: `[tokens, heads * headDim]`, row stride `keyStride`.
///   - values: `[tokens, heads * headDim]`, row stride `valueStride`.
///   - tokens: number of new positions.
///   - position: cache position of the first new row; position + tokens <= capacity.
///   - keyCache, valueCache: `[heads, capacity, headDim]`.
public func appendToKVCache(keys: UnsafePointer<Float>, keyStride: Int, values: UnsafePointer<Float>, valueStride: Int,
                            tokens: Int, at position: Int, layout: KVCacheLayout,
                            keyCache: UnsafeMutablePointer<Float>, valueCache: UnsafeMutablePointer<Float>) {
    precondition(position >= 0 && tokens >= 0 && position + tokens <= layout.capacity, "KV cache overflow")
    let d = layout.headDim
    for t in 0..<tokens {
        for h in 0..<layout.heads {
            let o = layout.offset(head: h, position: position + t)
            (keyCache + o).update(from: keys + t * keyStride + h * d, count: d)
            (valueCache + o).update(from: values + t * valueStride + h * d, count: d)
        }
    }
}

/// What a cache holds per value, widened to Float on load: Float itself, or binary16 (`HalfFloat`).
protocol CacheElement {
    /// 16 consecutive values as Floats.
    static func load16(_ p: UnsafePointer<Self>) -> SIMD16<Float>
    /// One value as a Float.
    static func load1(_ p: UnsafePointer<Self>) -> Float
}

extension Float: CacheElement {
    @inline(__always) static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { Lane16.load(p) }
    @inline(__always) static func load1(_ p: UnsafePointer<Float>) -> Float { p.pointee }
}

/// dot(q, k) over headDim: two SIMD16 accumulators (even and odd chunks), a fixed-order lane sum, a scalar tail.
@inline(__always) private func dotRow<E: CacheElement>(_ q: UnsafePointer<Float>, _ k: UnsafePointer<E>, headDim: Int) -> Float {
    let full = headDim & ~15
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= full {
        a0 = Lane16.mulAdd(Lane16.load(q + i), E.load16(k + i), a0)
        a1 = Lane16.mulAdd(Lane16.load(q + i + 16), E.load16(k + i + 16), a1)
        i += 32
    }
    if i < full { a0 = Lane16.mulAdd(Lane16.load(q + i), E.load16(k + i), a0) }
    var dot = Lane16.sum(a0 + a1)
    for r in full..<headDim { dot = Lane16.mulAdd(q[r], E.load1(k + r), dot) }
    return dot
}

/// scores[j] = scale * dot(q, K[j]) for j in 0..<count, SIMD16 over headDim, four keys per pass sharing q loads.
///
/// Each score is computed by exactly the operations of `dotRow`, so blocking never changes a result.
@inline(__always) private func keyScores<E: CacheElement>(_ q: UnsafePointer<Float>, keys: UnsafePointer<E>, count: Int,
                                         headDim: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let full = headDim & ~15
    var j = 0
    while j + 4 <= count {
        let k0 = keys + j * headDim, k1 = k0 + headDim, k2 = k1 + headDim, k3 = k2 + headDim   // [headDim] each
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
        var i = 0
        while i + 32 <= full {
            let q0 = Lane16.load(q + i), q1 = Lane16.load(q + i + 16)
            a00 = Lane16.mulAdd(q0, E.load16(k0 + i), a00)
            a01 = Lane16.mulAdd(q1, E.load16(k0 + i + 16), a01)
            a10 = Lane16.mulAdd(q0, E.load16(k1 + i), a10)
            a11 = Lane16.mulAdd(q1, E.load16(k1 + i + 16), a11)
            a20 = Lane16.mulAdd(q0, E.load16(k2 + i), a20)
            a21 = Lane16.mulAdd(q1, E.load16(k2 + i + 16), a21)
            a30 = Lane16.mulAdd(q0, E.load16(k3 + i), a30)
            a31 = Lane16.mulAdd(q1, E.load16(k3 + i + 16), a31)
            i += 32
        }
        if i < full {
            let q0 = Lane16.load(q + i)
            a00 = Lane16.mulAdd(q0, E.load16(k0 + i), a00)
            a10 = Lane16.mulAdd(q0, E.load16(k1 + i), a10)
            a20 = Lane16.mulAdd(q0, E.load16(k2 + i), a20)
            a30 = Lane16.mulAdd(q0, E.load16(k3 + i), a30)
        }
        var d0 = Lane16.sum(a00 + a01), d1 = Lane16.sum(a10 + a11)
        var d2 = Lane16.sum(a20 + a21), d3 = Lane16.sum(a30 + a31)
        for r in full..<headDim {
            d0 = Lane16.mulAdd(q[r], E.load1(k0 + r), d0)
            d1 = Lane16.mulAdd(q[r], E.load1(k1 + r), d1)
            d2 = Lane16.mulAdd(q[r], E.load1(k2 + r), d2)
            d3 = Lane16.mulAdd(q[r], E.load1(k3 + r), d3)
        }
        scores[j] = d0 * scale
        scores[j + 1] = d1 * scale
        scores[j + 2] = d2 * scale
        scores[j + 3] = d3 * scale
        j += 4
    }
    while j < count {
        scores[j] = dotRow(q, keys + j * headDim, headDim: headDim) * scale
        j += 1
    }
}

/// out[0..<headDim] = sum over j of p[j] * V[j], SIMD16.
///
/// Per 64 output floats, even and odd positions go to separate register accumulators (two FMA chains hide the
/// FMA latency), added at the end; the order depends only on `count`, never on the caller's blocking.
@inline(__always) private func accumulateValues<E: CacheElement>(_ p: UnsafePointer<Float>, values: UnsafePointer<E>, count: Int,
                                                headDim: Int, into out: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    var i = 0
    while i + 64 <= headDim {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), b0 = V(), b1 = V(), b2 = V(), b3 = V()
        var j = 0
        while j + 2 <= count {
            let v = values + j * headDim + i                        // [64]
            let w = V(repeating: p[j])
            a0 = Lane16.mulAdd(w, E.load16(v), a0)
            a1 = Lane16.mulAdd(w, E.load16(v + 16), a1)
            a2 = Lane16.mulAdd(w, E.load16(v + 32), a2)
            a3 = Lane16.mulAdd(w, E.load16(v + 48), a3)
            let u = v + headDim                                     // [64]
            let x = V(repeating: p[j + 1])
            b0 = Lane16.mulAdd(x, E.load16(u), b0)
            b1 = Lane16.mulAdd(x, E.load16(u + 16), b1)
            b2 = Lane16.mulAdd(x, E.load16(u + 32), b2)
            b3 = Lane16.mulAdd(x, E.load16(u + 48), b3)
            j += 2
        }
        if j < count {
            let v = values + j * headDim + i                        // [64]
            let w = V(repeating: p[j])
            a0 = Lane16.mulAdd(w, E.load16(v), a0)
            a1 = Lane16.mulAdd(w, E.load16(v + 16), a1)
            a2 = Lane16.mulAdd(w, E.load16(v + 32), a2)
            a3 = Lane16.mulAdd(w, E.load16(v + 48), a3)
        }
        Lane16.store(a0 + b0, out + i)
        Lane16.store(a1 + b1, out + i + 16)
        Lane16.store(a2 + b2, out + i + 32)
        Lane16.store(a3 + b3, out + i + 48)
        i += 64
    }
    while i + 16 <= headDim {
        var a0 = V()
        for j in 0..<count { a0 = Lane16.mulAdd(V(repeating: p[j]), E.load16(values + j * headDim + i), a0) }
        Lane16.store(a0, out + i)
        i += 16
    }
    while i < headDim {
        var a: Float = 0
        for j in 0..<count { a = Lane16.mulAdd(p[j], E.load1(values + j * headDim + i), a) }
        out[i] = a
        i += 1
    }
}

/// Attention of `tokens` new query positions over the first `length` cached positions, for a range of heads, SIMD16.
///
/// Scale 1 / sqrt(headDim). With `causal`, query t (at position length - tokens + t) sees positions 0...its own;
/// otherwise every query sees all `length` positions. Heads are independent: split `heads` across threads freely.
/// - Parameters:
///   - queries: `[tokens, heads, headDim]`, row stride `queryStride`.
///   - tokens: query positions, 1...length.
///   - keyCache, valueCache: `[heads, capacity, headDim]`, positions 0..<length filled.
///   - length: cached positions including the new ones.
///   - heads: heads to compute.
///   - output: `[tokens, heads * headDim]`, row stride `outputStride`; only the columns of `heads` are written.
public func cachedAttention(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int,
                            keyCache: UnsafePointer<Float>, valueCache: UnsafePointer<Float>, layout: KVCacheLayout,
                            length: Int, causal: Bool, heads: Range<Int>,
                            output: UnsafeMutablePointer<Float>, outputStride: Int) {
    attention(queries: queries, queryStride: queryStride, tokens: tokens, keyCache: keyCache, valueCache: valueCache,
              layout: layout, length: length, causal: causal, heads: heads, output: output, outputStride: outputStride)
}

/// `cachedAttention` over keys and values stored by position, for either element type (specialised inside this
/// module).
@inline(__always)
func attention<E: CacheElement>(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int,
                                keyCache: UnsafePointer<E>, valueCache: UnsafePointer<E>, layout: KVCacheLayout,
                                length: Int, causal: Bool, heads: Range<Int>,
                                output: UnsafeMutablePointer<Float>, outputStride: Int) {
    attention(queries: queries, queryStride: queryStride, tokens: tokens, valueCache: valueCache, layout: layout,
              length: length, causal: causal, heads: heads, output: output, outputStride: outputStride) {
        q, h, visible, scale, scores in
        keyScores(q, keys: keyCache + layout.offset(head: h, position: 0), count: visible, headDim: layout.headDim,
                  scale: scale, into: scores)
    }
}

/// The attention loop shared by every key layout: for each query and head, `scores(q, head, visible, scale, into)`
/// writes the scaled scores of positions 0..<visible (it may also write up to the next multiple of 16); they are
/// padded with -inf to a whole number of vectors (so the softmax never takes its scalar tail path), normalised,
/// and the values (stored by position) are mixed with them.
@inline(__always)
func attention<E: CacheElement>(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int,
                                valueCache: UnsafePointer<E>, layout: KVCacheLayout, length: Int, causal: Bool,
                                heads: Range<Int>, output: UnsafeMutablePointer<Float>, outputStride: Int,
                                scores scoreKeys: (UnsafePointer<Float>, Int, Int, Float, UnsafeMutablePointer<Float>) -> Void) {
    precondition(tokens >= 1 && tokens <= length && length <= layout.capacity, "attention positions out of range")
    let d = layout.headDim
    let scale = 1 / Float(d).squareRoot()
    let padded = (length + 15) & ~15
    withUnsafeTemporaryAllocation(of: Float.self, capacity: padded) { buffer in
        let scores = buffer.baseAddress!                            // [padded]
        for t in 0..<tokens {
            let visible = causal ? length - tokens + t + 1 : length
            let rounded = (visible + 15) & ~15
            for h in heads {
                scoreKeys(queries + t * queryStride + h * d, h, visible, scale, scores)
                (scores + visible).initialize(repeating: -.infinity, count: rounded - visible)
                softmaxInPlace(scores, count: rounded)
                accumulateValues(scores, values: valueCache + layout.offset(head: h, position: 0), count: visible,
                                 headDim: d, into: output + t * outputStride + h * d)
            }
        }
    }
}

/// Scalar reference twin of `cachedAttention`: straightforward loops, the reference softmax.
public func cachedAttentionReference(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int,
                                     keyCache: UnsafePointer<Float>, valueCache: UnsafePointer<Float>,
                                     layout: KVCacheLayout, length: Int, causal: Bool, heads: Range<Int>,
                                     output: UnsafeMutablePointer<Float>, outputStride: Int) {
    let d = layout.headDim
    let scale = 1 / Float(d).squareRoot()
    var scores = [Float](repeating: 0, count: length)
    for t in 0..<tokens {
        let visible = causal ? length - tokens + t + 1 : length
        for h in heads {
            let q = queries + t * queryStride + h * d               // [headDim]
            for j in 0..<visible {
                let k = keyCache + layout.offset(head: h, position: j)
                var dot: Float = 0
                for i in 0..<d { dot += q[i] * k[i] }
                scores[j] = dot * scale
            }
            scores.withUnsafeMutableBufferPointer { softmaxReference($0.baseAddress!, count: visible) }
            for i in 0..<d {
                var a: Float = 0
                for j in 0..<visible { a += scores[j] * valueCache[layout.offset(head: h, position: j) + i] }
                output[t * outputStride + h * d + i] = a
            }
        }
    }
}

/// A layer's key/value cache of either precision, as the transformer blocks use it.
public protocol AttentionCache: AnyObject {
    /// Sizes of the key and value tensors.
    var layout: KVCacheLayout { get }
    /// Positions filled.
    var count: Int { get }
    /// Appends the K and V rows (`[tokens, heads * headDim]` each, with row strides) of the next positions.
    func append(keys: UnsafePointer<Float>, keyStride: Int, values: UnsafePointer<Float>, valueStride: Int, tokens: Int)
    /// Attention of the last `tokens` appended positions over the whole cache (causal or not), for a range of heads.
    func attend(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int, heads: Range<Int>, causal: Bool,
                output: UnsafeMutablePointer<Float>, outputStride: Int)
}

/// How a KV cache stores its values.
public enum KVCachePrecision: Sendable, CaseIterable {
    /// Float: exact, 4 bytes per value.
    case f32
    /// binary16: 2 bytes per value (half the memory and the bandwidth attention reads), values rounded to 11 bits.
    case f16

    /// Bytes per cached value.
    public var bytesPerValue: Int { self == .f32 ? 4 : 2 }

    /// An empty cache of this precision.
    public func makeCache(layout: KVCacheLayout) -> AttentionCache {
        self == .f32 ? KVCache(layout: layout) : KVCacheF16(layout: layout)
    }
}

/// One layer's key/value cache owning its storage; `count` advances by exactly the positions appended.
public final class KVCache: AttentionCache {
    /// Sizes of the two tensors.
    public let layout: KVCacheLayout
    /// Keys, `[heads, capacity, headDim]`.
    public let keys: UnsafeMutablePointer<Float>
    /// Values, `[heads, capacity, headDim]`.
    public let values: UnsafeMutablePointer<Float>
    /// Positions filled.
    public private(set) var count = 0

    /// An empty, zero-filled cache.
    public init(layout: KVCacheLayout) {
        self.layout = layout
        keys = .allocate(capacity: layout.elementCount)
        values = .allocate(capacity: layout.elementCount)
        keys.initialize(repeating: 0, count: layout.elementCount)
        values.initialize(repeating: 0, count: layout.elementCount)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Appends the K and V rows (`[tokens, heads * headDim]` each, with row strides) of the next positions.
    public func append(keys newKeys: UnsafePointer<Float>, keyStride: Int, values newValues: UnsafePointer<Float>,
                       valueStride: Int, tokens: Int) {
        appendToKVCache(keys: newKeys, keyStride: keyStride, values: newValues, valueStride: valueStride,
                        tokens: tokens, at: count, layout: layout, keyCache: keys, valueCache: values)
        count += tokens
    }

    /// Forgets every position (the storage is kept).
    public func reset() { count = 0 }

    /// Causal attention of the last `tokens` appended positions over the whole cache, for a range of heads.
    /// - Parameters:
    ///   - queries: `[tokens, heads, headDim]`, row stride `queryStride`.
    ///   - output: `[tokens, heads * headDim]`, row stride `outputStride`.
    public func attend(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int, heads: Range<Int>,
                       output: UnsafeMutablePointer<Float>, outputStride: Int) {
        attend(queries: queries, queryStride: queryStride, tokens: tokens, heads: heads, causal: true, output: output,
               outputStride: outputStride)
    }

    public func attend(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int, heads: Range<Int>, causal: Bool,
                       output: UnsafeMutablePointer<Float>, outputStride: Int) {
        attention(queries: queries, queryStride: queryStride, tokens: tokens, keyCache: UnsafePointer(keys),
                  valueCache: UnsafePointer(values), layout: layout, length: count, causal: causal, heads: heads,
                  output: output, outputStride: outputStride)
    }
}
