// Q8_0 quantisation: ggml's block format (ggml type 8), bit-exact with ggml and gguf-py.
//
// A row of n values (n a multiple of 32) is n / 32 blocks of 34 bytes:
//   bytes 0-1   d, the block scale as IEEE binary16, little-endian: d = amax / 127
//   bytes 2-33  q[0..<32], int8: q = round(x / d) half away from zero, in -127...127
// and the value x[i] is approximated by d * q[i]. Port of ggml `quantize_row_q8_0_ref` /
// `dequantize_row_q8_0` (ggml-quants.c) and gguf-py `quants.Q8_0`.
//
// The GEMV kernels also quantise their activation vectors to Q8_0 on the fly (as ggml does) and keep
// them in a split form that is quicker to multiply; see `quantizeActivationsQ8_0`.

/// Block geometry of ggml's Q8_0 format.
public enum Q8_0 {
    /// Values per block.
    public static let blockValues = 32
    /// Bytes per block: a binary16 scale and 32 int8 values.
    public static let blockBytes = 34
    /// Byte offset of the first int8 value inside a block (after the scale).
    public static let valuesOffset = 2

    /// Bytes taken by one row of `columns` values (`columns` must be a multiple of 32).
    @inline(__always)
    public static func rowBytes(columns: Int) -> Int { columns / blockValues * blockBytes }
}

/// Quantises `count` floats to Q8_0 blocks, exactly as ggml's `quantize_row_q8_0_ref`.
///
/// Per block: `amax` is the largest |x|, `d = amax / 127` (Float division), `id = d != 0 ? 1 / d : 0`,
/// `q = round(x * id)` half away from zero, and the scale stored is `d` rounded to binary16 (ties to
/// even). Note `id` comes from the unrounded Float `d`, as in ggml; a block whose `d` underflows
/// binary16 keeps nonzero `q` under a zero scale, as in ggml.
///
/// - Parameters:
///   - source: `count` floats. Non-finite inputs do not trap (NaN quantises to 0) but give garbage.
///   - count: number of values, a multiple of 32.
///   - destination: `count / 32 * 34` bytes.
public func quantizeRowQ8_0Reference(_ source: UnsafePointer<Float>, count: Int,
                                     into destination: UnsafeMutableRawPointer) {
    precondition(count % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    for block in 0..<(count / Q8_0.blockValues) {
        let x = source + block * Q8_0.blockValues
        let out = destination + block * Q8_0.blockBytes
        var amax: Float = 0
        for j in 0..<Q8_0.blockValues {
            let magnitude = abs(x[j])
            amax = amax > magnitude ? amax : magnitude  // ggml's MAX(a, b) macro
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: halfBitsFromFloat(d).littleEndian, as: UInt16.self)
        for j in 0..<Q8_0.blockValues {
            out.storeBytes(of: roundToInt8(x[j] * id), toByteOffset: Q8_0.valuesOffset + j, as: Int8.self)
        }
    }
}

/// Quantises `count` floats to Q8_0 blocks; same bytes as `quantizeRowQ8_0Reference`, vectorised.
///
/// - Parameters:
///   - source: `count` finite floats.
///   - count: number of values, a multiple of 32.
///   - destination: `count / 32 * 34` bytes.
public func quantizeRowQ8_0(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer) {
    precondition(count % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    let input = UnsafeRawPointer(source)
    for block in 0..<(count / Q8_0.blockValues) {
        let (d, q) = quantizeBlock(input + block * Q8_0.blockValues * 4)
        let out = destination + block * Q8_0.blockBytes
        out.storeBytes(of: halfBitsFromFloat(d).littleEndian, as: UInt16.self)
        // The int8 codes sit in the low byte of each lane (see `quantizeBlock`).
        for j in 0..<16 {
            out.storeBytes(of: UInt8(truncatingIfNeeded: q.0[j]), toByteOffset: Q8_0.valuesOffset + j, as: UInt8.self)
            out.storeBytes(of: UInt8(truncatingIfNeeded: q.1[j]), toByteOffset: Q8_0.valuesOffset + 16 + j,
                           as: UInt8.self)
        }
    }
}

/// Expands `count` values of Q8_0 blocks back to floats: `x = Float(d) * Float(q)`, as ggml.
///
/// - Parameters:
///   - source: `count / 32 * 34` bytes of Q8_0 blocks (any alignment).
///   - count: number of values, a multiple of 32.
///   - destination: `count` floats.
public func dequantizeRowQ8_0(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
    precondition(count % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    for block in 0..<(count / Q8_0.blockValues) {
        let input = source + block * Q8_0.blockBytes
        let d = floatFromHalfBits(UInt16(littleEndian: input.loadUnaligned(as: UInt16.self)))
        let out = destination + block * Q8_0.blockValues
        for j in 0..<Q8_0.blockValues {
            out[j] = d * Float(input.load(fromByteOffset: Q8_0.valuesOffset + j, as: Int8.self))
        }
    }
}

// MARK: - Activations

/// Quantises an activation vector to Q8_0 in the layout the GEMV kernels read.
///
/// Codes and scales are exactly those of `quantizeRowQ8_0Reference` (so a GEMV equals ggml's dot with
/// ggml-quantised activations, up to float summation order); only the storage differs: each block
/// takes 64 bytes of `values` in the layout Q8Dot.swift describes (which depends on the build's CPU
/// features: treat it as opaque), and `scales[b]` is Float(binary16(d)), the scale ggml's dot uses.
///
/// - Parameters:
///   - source: `count` finite floats.
///   - count: a multiple of 32.
///   - values: `count` Int16 slots (64 bytes per block), written.
///   - scales: `count / 32` floats, written.
public func quantizeActivationsQ8_0(_ source: UnsafePointer<Float>, count: Int,
                                    values: UnsafeMutablePointer<Int16>, scales: UnsafeMutablePointer<Float>) {
    precondition(count % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    let input = UnsafeRawPointer(source)
    let output = UnsafeMutableRawPointer(values)
    for block in 0..<(count / Q8_0.blockValues) {
        let (d, q) = quantizeBlock(input + block * Q8_0.blockValues * 4)
        scales[block] = floatFromHalfBits(halfBitsFromFloat(d))
        storeActivationBlock(output + block * 64, q)
    }
}

/// Quantises one activation vector to plain Q8_0 values and Float scales (the reference layout).
///
/// `values[i]` is q[i] in natural order; `scales[b]` is Float(binary16(d)). Used by the reference GEMV.
internal func quantizeActivationsQ8_0Reference(_ source: UnsafePointer<Float>, count: Int,
                                      values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>) {
    let blocks = UnsafeMutableRawPointer.allocate(byteCount: Q8_0.rowBytes(columns: count), alignment: 16)
    defer { blocks.deallocate() }
    quantizeRowQ8_0Reference(source, count: count, into: blocks)
    for block in 0..<(count / Q8_0.blockValues) {
        let input = blocks + block * Q8_0.blockBytes
        scales[block] = floatFromHalfBits(input.loadUnaligned(as: UInt16.self))
        for j in 0..<Q8_0.blockValues {
            values[block * Q8_0.blockValues + j] = input.load(fromByteOffset: Q8_0.valuesOffset + j, as: Int8.self)
        }
    }
}

// MARK: - Helpers

/// round(v) half away from zero as Int8. Finite blocks give |v| <= 127.00002; the clamp and the NaN
/// case are only reachable when 1 / d overflows to infinity (ggml leaves that undefined).
@inline(__always)
private func roundToInt8(_ v: Float) -> Int8 {
    let r = v.rounded(.toNearestOrAwayFromZero)
    guard r == r else { return 0 }
    return Int8(Swift.max(-127, Swift.min(127, r)))
}

/// Quantises one block of 32 floats (at `x`, any alignment): the Float scale d and the int8 codes.
///
/// The codes come back as Int32 lanes holding `q + 0x4B40_0000`: adding 1.5 * 2^23 to a float of
/// magnitude < 2^22 puts its integer value in the low mantissa bits, so the low 16 bits of each lane
/// are q as Int16 and the low 8 bits q as Int8, with no lane-narrowing conversion (stdlib SIMD
/// conversions are slow). Same arithmetic as the reference: d = amax / 127, id = 1 / d, x * id, round
/// half away from zero (which LLVM lowers to trunc(x + copysign(0.49999997, x)), exact).
@inline(__always)
private func quantizeBlock(_ x: UnsafeRawPointer) -> (d: Float, q: (SIMD16<Int32>, SIMD16<Int32>)) {
    let a = x.loadUnaligned(as: SIMD16<Float>.self)
    let b = x.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
    // A scalar pass over the 32 values: the SIMD forms (compare-and-select, lowHalf/highHalf halving) were built
    // lane by lane through the stack by LLVM (~2% of a transformer step). Any order gives the same maximum.
    var amax: Float = 0
    for i in 0..<32 {
        let v = x.loadUnaligned(fromByteOffset: 4 &* i, as: Float.self).magnitude
        if v > amax { amax = v }
    }
    let d = amax / 127
    let id: Float = d != 0 ? 1 / d : 0
    @inline(__always) func codes(_ v: SIMD16<Float>) -> SIMD16<Int32> {
        // Same edge handling as `roundToInt8`: only reachable when 1 / d overflows (amax < ~4e-37).
        var r = (v * id).rounded(.toNearestOrAwayFromZero)
        r = r.replacing(with: 127, where: r .> 127).replacing(with: -127, where: r .< -127)
        r = r.replacing(with: 0, where: r .!= r)
        return unsafeBitCast(r + 12_582_912, to: SIMD16<Int32>.self)  // + 1.5 * 2^23: lanes hold q + 0x4B40_0000
    }
    return (d, (codes(a), codes(b)))
}
