// Tests of the binary16 conversions and the Q8_0 quantiser (ggml quantize_row_q8_0_ref semantics).
import ClipgenKernels
import Testing

/// Quantises `x` with the reference quantiser and returns the bytes.
private func referenceBytes(_ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Q8_0.rowBytes(columns: x.count))
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBytes { quantizeRowQ8_0Reference(src.baseAddress!, count: x.count, into: $0.baseAddress!) }
    }
    return out
}

private func fastBytes(_ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: Q8_0.rowBytes(columns: x.count))
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBytes { quantizeRowQ8_0(src.baseAddress!, count: x.count, into: $0.baseAddress!) }
    }
    return out
}

/// Blocks chosen to hit every edge of the quantiser: zero, ties, saturation, tiny and subnormal scales.
private func trickyBlocks() -> [[Float]] {
    var blocks: [[Float]] = []
    blocks.append([Float](repeating: 0, count: 32))                                   // all zero: d = 0, id = 0
    blocks.append((0..<32).map { Float($0 - 16) + 0.5 })                                // amax 15.5, many near-ties
    blocks.append((0..<32).map { $0 == 0 ? 127 : Float($0) - 0.5 })                     // d = 1 exactly: x.5 ties
    blocks.append((0..<32).map { $0 == 0 ? -127 : -(Float($0) + 0.5) })                 // negative ties
    blocks.append((0..<32).map { $0 % 2 == 0 ? 1e30 : -1e30 })                          // large magnitudes
    blocks.append((0..<32).map { Float($0) * 1e-7 })                                    // d ~ 2.4e-8: binary16 subnormal
    blocks.append((0..<32).map { Float($0) * 1e-9 })                                    // d below 2^-25: stored 0
    blocks.append((0..<32).map { $0 == 5 ? Float.leastNormalMagnitude : 0 })            // float tiny
    blocks.append((0..<32).map { $0 == 31 ? 65504 * 127 : 1 })                          // d = 65504 (max half)
    blocks.append((0..<32).map { $0 == 31 ? 65520 * 127 : 1 })                          // d rounds to infinity
    blocks.append([Float](repeating: -3.25, count: 32))                                 // constant
    return blocks
}

@Suite struct Float16BitsTests {
    /// Every binary16 value converts exactly as the hardware does (NaNs: same payload, quiet).
    @Test func halfToFloatMatchesHardwareExhaustively() {
#if !(os(macOS) && arch(x86_64))
        var mismatches = 0
        for bits in 0...UInt16.max {
            let ours = floatFromHalfBits(bits)
            let hardware = Float(Float16(bitPattern: bits))
            if hardware.isNaN {
                if !ours.isNaN || (ours.bitPattern | 0x0040_0000) != (hardware.bitPattern | 0x0040_0000) { mismatches += 1 }
            } else if ours.bitPattern != hardware.bitPattern {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
#endif
    }

    /// Every non-NaN half survives half -> float -> half.
    @Test func halfRoundTrips() {
        for bits in 0...UInt16.max where (bits & 0x7C00) != 0x7C00 || (bits & 0x03FF) == 0 {
            #expect(halfBitsFromFloat(floatFromHalfBits(bits)) == bits)
        }
    }

    /// Midpoints between neighbouring halves round to even; a float ulp either side rounds to the nearer one.
    @Test func floatToHalfRoundsToNearestEven() {
        var failures = 0
        for bits in UInt16(0)..<0x7BFF {  // every finite positive half and its finite upper neighbour
            let lo = floatFromHalfBits(bits), hi = floatFromHalfBits(bits + 1)
            let mid = (Double(lo) + Double(hi)) / 2
            let midFloat = Float(mid)  // exact: halves have 11 significant bits
            let even = bits & 1 == 0 ? bits : bits + 1
            if halfBitsFromFloat(midFloat) != even { failures += 1 }
            if halfBitsFromFloat(midFloat.nextDown) != bits { failures += 1 }
            if halfBitsFromFloat(midFloat.nextUp) != bits + 1 { failures += 1 }
            if halfBitsFromFloat(-midFloat) != even | 0x8000 { failures += 1 }
        }
        #expect(failures == 0)
        #expect(halfBitsFromFloat(65519.996) == 0x7BFF)
        #expect(halfBitsFromFloat(65520) == 0x7C00)
        #expect(halfBitsFromFloat(.infinity) == 0x7C00)
        #expect(halfBitsFromFloat(-.infinity) == 0xFC00)
        #expect(halfBitsFromFloat(0x1p-25) == 0)                   // tie between 0 and the least subnormal
        #expect(halfBitsFromFloat(Float(0x1p-25).nextUp) == 1)
        #expect(halfBitsFromFloat(-0.0) == 0x8000)
        #expect(floatFromHalfBits(halfBitsFromFloat(.nan)).isNaN)
    }

    /// Random floats of every magnitude agree with the hardware conversion.
    @Test func floatToHalfMatchesHardware() {
#if !(os(macOS) && arch(x86_64))
        var random = SplitMix64(state: 7)
        var mismatches = 0
        for _ in 0..<2_000_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            let ours = halfBitsFromFloat(f), hardware = Float16(f).bitPattern
            if f.isNaN {
                if (ours & 0x7C00) != 0x7C00 || (ours & 0x03FF) == 0 { mismatches += 1 }
            } else if ours != hardware {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
#endif
    }

    /// The vector conversion used by portable builds agrees with the scalar one on every finite half.
    @Test func vectorConversionMatchesScalar() {
        var lanes = SIMD16<UInt32>()
        var mismatches = 0
        for bits in 0...UInt16.max where (bits & 0x7C00) != 0x7C00 {
            lanes[Int(bits % 16)] = UInt32(bits)
            if bits % 16 == 15 {
                let v = floatsFromFiniteHalfBits(lanes)
                for i in 0..<16 where v[i].bitPattern != floatFromHalfBits(UInt16(lanes[i])).bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }
}

@Suite struct Q8_0QuantizerTests {
    /// Hand-checked bytes: ties go away from zero, d is amax / 127 in binary16.
    @Test func referenceQuantiserKnownValues() {
        let ties = trickyBlocks()[2]  // 127, 0.5, 1.5, ..., 30.5 with d = 1
        let bytes = referenceBytes(ties)
        #expect(bytes[0] == 0x00 && bytes[1] == 0x3C)  // binary16 1.0
        #expect(Int8(bitPattern: bytes[2]) == 127)
        for j in 1..<32 { #expect(Int8(bitPattern: bytes[2 + j]) == Int8(j)) }  // (j - 0.5) rounds up to j
        let negative = referenceBytes(trickyBlocks()[3])
        for j in 1..<32 { #expect(Int8(bitPattern: negative[2 + j]) == -Int8(j + 1)) }  // -(j + 0.5) -> -(j + 1)
        let zero = referenceBytes(trickyBlocks()[0])
        #expect(zero.allSatisfy { $0 == 0 })
        // d below binary16's range: the stored scale is 0 but the codes are not (as in ggml).
        let vanishing = referenceBytes(trickyBlocks()[6])
        #expect(vanishing[0] == 0 && vanishing[1] == 0 && Int8(bitPattern: vanishing[33]) == 127)
    }

    /// The vectorised quantiser writes the same bytes as the reference, block for block.
    @Test func fastQuantiserMatchesReference() {
        var random = SplitMix64(state: 1)
        for count in [32, 64, 992, 4096] {
            let x = (0..<count).map { _ in random.float() * Float(1 << (random.next() % 20)) }
            #expect(fastBytes(x) == referenceBytes(x))
        }
        let tricky = trickyBlocks().flatMap { $0 }
        #expect(fastBytes(tricky) == referenceBytes(tricky))
    }

    /// Dequantised values are within half a step of the input, plus the binary16 rounding of d (127 codes
    /// times at most 2^-11 relative), and zero blocks stay zero.
    @Test func dequantisedErrorIsAtMostHalfAStep() {
        var random = SplitMix64(state: 2)
        let x = (0..<1024).map { _ in random.float() * 3 } + [Float](repeating: 0, count: 32)
        let bytes = referenceBytes(x)
        var y = [Float](repeating: 1, count: x.count)
        bytes.withUnsafeBytes { src in
            y.withUnsafeMutableBufferPointer { dequantizeRowQ8_0(src.baseAddress!, count: x.count, into: $0.baseAddress!) }
        }
        for b in 0..<(x.count / 32) {
            let d = floatFromHalfBits(UInt16(bytes[34 * b]) | UInt16(bytes[34 * b + 1]) << 8)
            for j in 0..<32 {
                let i = 32 * b + j
                #expect(abs(y[i] - x[i]) <= d * (0.5 + 127 * 0x1p-11) * 1.001, "value \(i)")
            }
        }
        #expect(y[1024..<1056].allSatisfy { $0 == 0 })
    }

    /// The GEMV activation layout holds the reference codes and scales, in the layout of this build
    /// (Q8Dot.swift): Int8 codes plus `-128 * sum` per group of four on a VNNI build, even/odd codes
    /// times 256 otherwise.
    @Test func activationLayoutMatchesReference() {
        var random = SplitMix64(state: 3)
        let x = (0..<256).map { _ in random.float() * 10 } + trickyBlocks().flatMap { $0 }.map { Swift.min(Swift.max($0, -1e6), 1e6) }
        let n = x.count
        var values = [Int16](repeating: 0, count: n), scales = [Float](repeating: 0, count: n / 32)
        x.withUnsafeBufferPointer { quantizeActivationsQ8_0($0.baseAddress!, count: n, values: &values, scales: &scales) }
        let reference = referenceBytes(x)
        for b in 0..<(n / 32) {
            let d = floatFromHalfBits(UInt16(reference[34 * b]) | UInt16(reference[34 * b + 1]) << 8)
            #expect(scales[b].bitPattern == d.bitPattern, "block \(b)")
            func code(_ j: Int) -> Int8 { Int8(bitPattern: reference[34 * b + 2 + j]) }
            values.withUnsafeBytes { raw in
                let block = raw.baseAddress! + 64 * b
#if CLIPGEN_VNNI
                for j in 0..<32 { #expect(block.load(fromByteOffset: j, as: Int8.self) == code(j)) }
                for l in 0..<8 {
                    let sum = (0..<4).reduce(Int32(0)) { $0 + Int32(code(4 * l + $1)) }
                    #expect(block.load(fromByteOffset: 32 + 4 * l, as: Int32.self) == -128 * sum)
                }
#else
                for i in 0..<16 {
                    #expect(block.load(fromByteOffset: 2 * i, as: Int16.self) == Int16(code(2 * i)) * 256)
                    #expect(block.load(fromByteOffset: 32 + 2 * i, as: Int16.self) == Int16(code(2 * i + 1)) * 256)
                }
#endif
            }
        }
    }
}
