// A key/value cache in binary16: half the memory of a Float cache and half the bytes attention reads per token
// (at paper scale, 25 MB instead of 50 MB per candidate, and ~12 MB instead of ~24 MB read per token at mid-grid).
// Values are rounded to nearest (ties to even) when appended and widened exactly when read, so attention over an
// F16 cache gives the same bits as `cachedAttention` over the widened values (tested).

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

/// `cachedAttention` over binary16 keys and values (`[heads, capacity, headDim]` each).
public func cachedAttentionF16(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int,
                               keyCache: UnsafePointer<HalfFloat>, valueCache: UnsafePointer<HalfFloat>,
                               layout: KVCacheLayout, length: Int, causal: Bool, heads: Range<Int>,
                               output: UnsafeMutablePointer<Float>, outputStride: Int) {
    attention(queries: queries, queryStride: queryStride, tokens: tokens, keyCache: keyCache, valueCache: valueCache,
              layout: layout, length: length, causal: causal, heads: heads, output: output, outputStride: outputStride)
}

/// One layer's key/value cache in binary16; `count` advances by exactly the positions appended.
public final class KVCacheF16: AttentionCache {
    public let layout: KVCacheLayout
    /// Keys, `[heads, capacity, headDim]`.
    public let keys: UnsafeMutablePointer<HalfFloat>
    /// Values, `[heads, capacity, headDim]`.
    public let values: UnsafeMutablePointer<HalfFloat>
    public private(set) var count = 0

    /// An empty, zero-filled cache.
    public init(layout: KVCacheLayout) {
        self.layout = layout
        keys = .allocate(capacity: layout.elementCount)
        values = .allocate(capacity: layout.elementCount)
        keys.initialize(repeating: HalfFloat(bits: 0), count: layout.elementCount)
        values.initialize(repeating: HalfFloat(bits: 0), count: layout.elementCount)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public func append(keys newKeys: UnsafePointer<Float>, keyStride: Int, values newValues: UnsafePointer<Float>,
                       valueStride: Int, tokens: Int) {
        precondition(tokens >= 0 && count + tokens <= layout.capacity, "KV cache overflow")
        let d = layout.headDim
        for t in 0..<tokens {
            for h in 0..<layout.heads {
                let o = layout.offset(head: h, position: count + t)
                storeHalves(newKeys + t * keyStride + h * d, count: d, into: keys + o)
                storeHalves(newValues + t * valueStride + h * d, count: d, into: values + o)
            }
        }
        count += tokens
    }

    /// Forgets every position (the storage is kept).
    public func reset() { count = 0 }

    public func attend(queries: UnsafePointer<Float>, queryStride: Int, tokens: Int, heads: Range<Int>, causal: Bool,
                       output: UnsafeMutablePointer<Float>, outputStride: Int) {
        attention(queries: queries, queryStride: queryStride, tokens: tokens, keyCache: UnsafePointer(keys),
                  valueCache: UnsafePointer(values), layout: layout, length: count, causal: causal, heads: heads,
                  output: output, outputStride: outputStride)
    }
}
