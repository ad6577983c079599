// A key/value cache in binary16: half the memory of a Float cache and half the bytes attention reads per token
// (at paper scale, 25 MB instead of 50 MB per candidate, and ~12 MB instead of ~24 MB read per token at mid-grid).
// Values are rounded to nearest (ties to even) when appended and widened exactly when read.
//
// Keys are stored transposed per head, [heads, headDim, capacity], so the scores of 16 consecutive positions
// accumulate in one vector (score[j..j+16] += q[i] * K^T[i][j..j+16]) with no horizontal sums: with keys stored by
// position, those per-key lane sums were most of attention's time (`clipgen bench kernels`, one layer of 16 heads x
// 128 positions on one thread: 18.3 us here against 28.5 us for the Float cache, whose keys are stored by position). Each score is one multiply-add chain over i in order, the same whatever the block of queries, so
// decoding one token at a time still equals the prefill bit for bit. Values keep the [heads, capacity, headDim]
// layout `accumulateValues` reads.

/// One binary16 value (IEEE half precision) as stored in a cache.
public struct HalfFloat: Sendable, Equatable {
    /// The IEEE binary16 bit pattern.
    public var bits: UInt16

    @inline(__always) public init(bits: UInt16) { self.bits = bits }

    /// `value` rounded to binary16, to nearest, ties to even.
    @inline(__always) public init(_ value: Float) { bits = halfBitsFromFloat(value) }

    /// The value, widened exactly.
    @inline(__always) public var float: Float { floatFromHalfBits(bits) }
}

extension HalfFloat: CacheElement {
    @inline(__always) static func load16(_ p: UnsafePointer<HalfFloat>) -> SIMD16<Float> {
        let bits = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt16>.self)
#if CLIPGEN_VNNI
        return floatsFromHalves(bits)
#else
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = floatFromHalfBits(bits[i]) }   // exact for every value, infinities included
        return r
#endif
    }

    @inline(__always) static func load1(_ p: UnsafePointer<HalfFloat>) -> Float { p.pointee.float }
}

/// Rounds `count` Floats to binary16.
@inline(__always)
private func storeHalves(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<HalfFloat>) {
    var i = 0
#if CLIPGEN_VNNI
    while i + 16 <= count {
        UnsafeMutableRawPointer(target + i).storeBytes(of: halvesFromFloats(Lane16.load(source + i)), as: SIMD16<UInt16>.self)
        i += 16
    }
#endif
    while i < count {
        target[i] = HalfFloat(source[i])
        i += 1
    }
}

/// One layer's key/value cache in binary16; `count` advances by exactly the positions appended.
public final class KVCacheF16: AttentionCache {
    public let layout: KVCacheLayout
    /// Positions per key row, `capacity` rounded up to 16 (score vectors never read past the storage).
    let keyStride: Int
    /// Keys transposed, `[heads, headDim, keyStride]`: key (head h, position j, dimension i) at
    /// `(h * headDim + i) * keyStride + j`.
    let keysTransposed: UnsafeMutablePointer<HalfFloat>
    /// Values, `[heads, capacity, headDim]`.
    public let values: UnsafeMutablePointer<HalfFloat>
    public private(set) var count = 0

    /// An empty, zero-filled cache.
    public init(layout: KVCacheLayout) {
        self.layout = layout
        keyStride = (layout.capacity + 15) & ~15
        let keyCount = layout.heads * layout.headDim * keyStride
        keysTransposed = .allocate(capacity: keyCount)
        values = .allocate(capacity: layout.elementCount)
        keysTransposed.initialize(repeating: HalfFloat(bits: 0), count: keyCount)
        values.initialize(repeating: HalfFloat(bits: 0), count: layout.elementCount)
    }

    /// The stored key of (head, position, dimension).
    public func key(head: Int, position: Int, dimension: Int) -> HalfFloat {
        keysTransposed[(head * layout.headDim + dimension) * keyStride + position]
    }

    deinit {
        keysTransposed.deallocate()
        values.deallocate()
    }

    public func append(keys newKeys: UnsafePointer<Float>, keyStride: Int, values newValues: UnsafePointer<Float>,
                       valueStride: Int, tokens: Int) {
        precondition(tokens >= 0 && count + tokens <= layout.capacity, "KV cache overflow")
        let d = layout.headDim
        for t in 0..<tokens {
            for h in 0..<layout.heads {
                let o = layout.offset(head: h, position: count + t)
                let key = newKeys + t * keyStride + h * d                      // [headDim]
                for i in 0..<d { keysTransposed[(h * d + i) * self.keyStride + count + t] = HalfFloat(key[i]) }
                storeHalves(newValues + t * valueStride + h * d, count: d, into: values + o)
            }
        }
        count += tokens
    }

    /// Forgets every position (the storage is kept).
    public func reset() { count = 0 }

    public func attend(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int, heads: Range<Int>, causal: Bool,
                       output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let d = layout.headDim, stride = keyStride
        attention(queries: queries, queryStride: queryStride, tokens: tokens, valueCache: UnsafePointer(values),
                  layout: layout, length: count, causal: causal, heads: heads, output: output,
                  outputStride: outputStride) { q, h, visible, scale, scores in
            let keys = UnsafePointer(keysTransposed + h * d * stride)            // [headDim, keyStride]
            var j = 0
            while j < visible {
                // Positions j..<j+16 (those past `visible` are computed, then masked by the caller).
                var acc = SIMD16<Float>()
                for i in 0..<d { acc = Lane16.mulAdd(SIMD16(repeating: q[i]), HalfFloat.load16(keys + (i * stride + j)), acc) }
                Lane16.store(acc * scale, scores + j)
                j += 16
            }
        }
    }
}
