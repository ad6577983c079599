// The few machine instructions the kernels need that Swift's SIMD API cannot express, taken from the compiler's
// `Builtin` module (LLVM intrinsics and conversions, inlined like any SIMD operation). Only in host-tuned builds on
// CPUs with AVX512-VNNI (Package.swift defines CLIPGEN_VNNI and enables the experimental `BuiltinModule` feature
// together); every caller has a plain-Swift path for other builds. This is the one file of the kernel module that
// imports anything (KernelPurityTests allows exactly this).

#if CLIPGEN_VNNI
import Builtin

/// `acc + sum_{k<4} u[4l+k] * s[4l+k]` per Int32 lane l, u read as unsigned and s as signed bytes
/// (one `vpdpbusd zmm`). Exact: |sum| <= 4 * 255 * 128 per call.
@inline(__always)
func dotBytesAccumulate(_ acc: SIMD16<Int32>, unsigned u: SIMD16<Int32>, signed s: SIMD16<Int32>) -> SIMD16<Int32> {
    var r = SIMD16<Int32>()
    r._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(acc._storage._value, u._storage._value, s._storage._value)
    return r
}

/// Asks for the cache line at `p` now (prefetcht0); never faults, whatever the address.
@inline(__always)
func prefetch(_ p: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(p._rawValue, Int32(0)._value, Int32(3)._value, Int32(1)._value)
}

/// The low byte of each lane (one vpmovdb; the SIMD API's narrowing is built lane by lane).
@inline(__always)
func lowBytes(_ v: SIMD16<Int32>) -> SIMD16<Int8> {
    var r = SIMD16<Int8>()
    r._storage._value = Builtin.truncOrBitCast_Vec16xInt32_Vec16xInt8(v._storage._value)
    return r
}

/// 16 binary16 values (as bit patterns) widened to Float, exactly (one vcvtph2ps).
@inline(__always)
func floatsFromHalves(_ bits: SIMD16<UInt16>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    r._storage._value = Builtin.fpext_Vec16xFPIEEE16_Vec16xFPIEEE32(
        Builtin.bitcast_Vec16xInt16_Vec16xFPIEEE16(bits._storage._value))
    return r
}

/// 16 Floats rounded to binary16 (to nearest, ties to even), as bit patterns (one vcvtps2ph).
@inline(__always)
func halvesFromFloats(_ v: SIMD16<Float>) -> SIMD16<UInt16> {
    var r = SIMD16<UInt16>()
    r._storage._value = Builtin.bitcast_Vec16xFPIEEE16_Vec16xInt16(
        Builtin.fptrunc_Vec16xFPIEEE32_Vec16xFPIEEE16(v._storage._value))
    return r
}
#endif
