// IEEE 754 binary16 <-> binary32 conversions on raw bit patterns, in pure Swift.
//
// `Float16` is missing on some targets (macOS x86_64) and its conversions become library calls
// where the CPU has no F16C / FCVT, so the kernels and the GGUF code use these instead. They agree
// bit for bit with hardware conversion (x86 F16C `vcvtps2ph` / `vcvtph2ps`, ARM `fcvt`) and with
// numpy's `astype(float16)`: round to nearest, ties to even; subnormals kept; overflow to infinity.
// NaNs come back quiet with the payload bits that fit (as F16C and ARM do; numpy keeps a
// signalling NaN signalling, the only difference, and one no finite input can reach).

/// Converts a binary16 bit pattern to the `Float` it denotes (exact: every half value is a float).
///
/// - Parameter bits: the IEEE 754 binary16 bit pattern (sign, 5 exponent bits, 10 mantissa bits).
/// - Returns: the same value as a `Float`; a NaN comes back quiet with its payload.
@inline(__always)
public func floatFromHalfBits(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    let magnitude: UInt32
    if exponent == 0x1F {
        // Infinity or NaN: all-ones exponent; a NaN also gets the quiet bit, as hardware does.
        magnitude = 0x7F80_0000 | (mantissa << 13) | (mantissa != 0 ? 0x0040_0000 : 0)
    } else if exponent != 0 {
        // Normal: re-bias the exponent from 15 to 127 and widen the mantissa.
        magnitude = ((exponent + (127 - 15)) << 23) | (mantissa << 13)
    } else {
        // Zero or subnormal: mantissa * 2^-24 exactly (an integer below 2^10 times a power of two).
        // Done in integer-to-float form rather than by rescaling a float subnormal so that it also holds
        // where denormals are flushed to zero.
        magnitude = (Float(mantissa) * 0x1p-24).bitPattern
    }
    return Float(bitPattern: sign | magnitude)
}

/// Converts a `Float` to the nearest binary16 bit pattern, ties to even (like F16C and numpy).
///
/// - Parameter value: any float; values at or beyond 65520 in magnitude become infinity.
/// - Returns: the binary16 bit pattern.
@inline(__always)
public func halfBitsFromFloat(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude >= 0x7F80_0000 {
        // Infinity stays infinity; a NaN keeps the top 10 payload bits and is made quiet.
        let payload = UInt16(truncatingIfNeeded: magnitude >> 13) & 0x03FF
        return sign | 0x7C00 | (magnitude > 0x7F80_0000 ? 0x0200 | payload : 0)
    }
    if magnitude >= 0x4780_0000 {
        // |value| >= 65536: beyond anything that rounds to a finite half.
        return sign | 0x7C00
    }
    if magnitude < 0x3880_0000 {
        // |value| < 2^-14: the result is a half subnormal (or zero), a multiple of 2^-24.
        // Adding 0.5 (= 2^-1) puts the unit 2^-24 in the float's last mantissa place, so the float
        // addition itself rounds to a multiple of 2^-24 with ties to even; the low mantissa bits of
        // the sum are then the half mantissa. The sum is < 0.5 + 2^-14, far from any carry trouble.
        let shifted = Float(bitPattern: magnitude) + 0.5
        return sign | UInt16(truncatingIfNeeded: shifted.bitPattern - Float(0.5).bitPattern)
    }
    // Normal half: re-bias the exponent (127 -> 15) and drop 13 mantissa bits, rounding to nearest
    // even by adding 0x0FFF plus the lowest kept bit before shifting. A mantissa carry correctly bumps
    // the exponent, and the largest inputs (65520 ..< 65536) carry into 0x7C00, infinity.
    let keptLowBit = (magnitude >> 13) & 1
    let rebiased = magnitude &- ((127 - 15) << 23)
    return sign | UInt16(truncatingIfNeeded: (rebiased &+ 0x0FFF &+ keptLowBit) >> 13)
}

/// Converts 16 binary16 bit patterns (one per UInt32 lane) to floats; finite inputs only.
///
/// Same result as `floatFromHalfBits` lane by lane for every finite half (normal, subnormal, zero);
/// infinities and NaNs come out as large finite garbage, which a Q8_0 scale never is. Vector
/// arithmetic, for the GEMV's per-block weight scales in builds without hardware half conversion.
@inline(__always)
public func floatsFromFiniteHalfBits(_ bits: SIMD16<UInt32>) -> SIMD16<Float> {
    let sign = (bits & 0x8000) &<< 16
    let magnitude = bits & 0x7FFF
    // Normal halves: shift into float position and re-bias the exponent by (127 - 15).
    let normal = (magnitude &<< 13) &+ ((127 - 15) << 23)
    // Subnormal halves (exponent field 0) mean m * 2^-24: the float with bits 0x3F800000 | m << 13 is
    // 1 + m * 2^-10, so subtracting 1 and scaling by 2^-14 gives m * 2^-24 exactly.
    let onePlus = unsafeBitCast(SIMD16<UInt32>(repeating: 0x3F80_0000) | (magnitude &<< 13), to: SIMD16<Float>.self)
    let subnormal = unsafeBitCast((onePlus - 1) * 0x1p-14, to: SIMD16<UInt32>.self)
    let result = normal.replacing(with: subnormal, where: magnitude .< 0x400) | sign
    return unsafeBitCast(result, to: SIMD16<Float>.self)
}
