// aarch64 checks of Float16Bits.swift: every finite binary16 value survives half -> Float -> half, and rounding
// Float -> half is to nearest, ties to even (checked on the midpoints between neighbouring halves).
import ClipgenKernels

func float16BitsChecks() {
    var roundTripBad = 0, tieBad = 0
    for bits in 0..<0x1_0000 {
        let h = UInt16(bits)
        if h & 0x7C00 == 0x7C00 { continue }                       // inf and NaN
        let f = floatFromHalfBits(h)
        if halfBitsFromFloat(f) != h { roundTripBad += 1 }
        // The midpoint towards the next half up in magnitude rounds to the even one of the two.
        let next = h &+ 1
        if next & 0x7C00 == 0x7C00 { continue }
        let mid = (Double(f) + Double(floatFromHalfBits(next))) / 2
        let even = h & 1 == 0 ? h : next
        if halfBitsFromFloat(Float(mid)) != even { tieBad += 1 }
    }
    check("floatFromHalfBits / halfBitsFromFloat round trip, all finite halves", roundTripBad == 0,
          "\(roundTripBad) wrong")
    check("halfBitsFromFloat ties to even on every midpoint", tieBad == 0, "\(tieBad) wrong")
}
