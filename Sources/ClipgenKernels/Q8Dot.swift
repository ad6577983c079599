// The int8 block dot product under every Q8_0 GEMV/GEMM kernel: for one 32-value block of two
// weight rows, the eight Int32 lane sums `sum_{k<4} qW[4l+k] * qX[4l+k]` (l = 0..<8) of each row.
// The kernels in Q8GEMV.swift and Q8Interleaved.swift only ever see these exact integers, so the
// two implementations below give bit-identical results; which one a build uses depends on the CPU.
//
// * AVX512-VNNI (`CLIPGEN_VNNI`, defined by Package.swift for a host-tuned build on a CPU with
//   avx512_vnni and avx512bw): one `vpdpbusd` does 64 byte products summed in groups of 4. It
//   multiplies UNSIGNED by signed bytes, so the weights are flipped to unsigned (w xor 0x80 = w + 128)
//   and the surplus `128 * sum(qX)` is cancelled by starting the accumulator at
//   `-128 * sum_{k<4} qX[4l+k]`, which the activation quantiser stores next to the codes. The
//   weights stay exactly ggml's Q8_0 on disk. Swift's SIMD API has no such operation and LLVM never
//   forms it from plain code, so it comes from the compiler's `Builtin` module (Intrinsics.swift).
// * Everywhere else: 16-bit multiplies. A block's 32 weight bytes are loaded as 16 Int16 lanes (even
//   byte in the low half, odd byte in the high half); with activations stored times 256,
//   `mulhi(w << 8, 256 xe) = we * xe` and `mulhi(w & 0xFF00, 256 xo) = wo * xo` exactly (vpmulhw),
//   and `we xe + wo xo` (|.| <= 2 * 127 * 127) still fits an Int16 lane; adjacent lanes are then
//   summed into Int32.
//
// Activation block layout (64 bytes per block, written by `quantizeActivationsQ8_0`):
//   VNNI:  bytes 0..<32 the codes qX as Int8; bytes 32..<64 eight Int32 `-128 * sum_{k<4} qX[4l+k]`.
//   other: Int16 256 * qX[2i] for i in 0..<16, then Int16 256 * qX[2i+1] for i in 0..<16.

#if CLIPGEN_VNNI

/// One quantised activation block, loaded once and used against many weight rows.
struct ActivationBlock {
    /// The 32 codes (as 8 Int32 lanes of 4 bytes), repeated in both halves.
    var codes: SIMD16<Int32>
    /// `-128 * sum` of each group of 4 codes, repeated in both halves: the accumulator's start.
    var bias: SIMD16<Int32>

    @inline(__always)
    init(_ p: UnsafeRawPointer) {
        let q = p.loadUnaligned(as: SIMD8<Int32>.self)
        let c = p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Int32>.self)
        codes = SIMD16(lowHalf: q, highHalf: q)
        bias = SIMD16(lowHalf: c, highHalf: c)
    }
}

/// Two weight rows' blocks prepared for `dots` (row A in lanes 0..7, row B in 8..15).
struct PreparedPair {
    /// The 64 weight bytes, flipped to unsigned (w + 128).
    var bytes: SIMD16<Int32>

    /// `a` and `b` point at the 32 int8 values of row A's and row B's block.
    @inline(__always)
    init(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) {
        let flip = SIMD16<Int32>(repeating: Int32(bitPattern: 0x8080_8080))
        bytes = SIMD16(lowHalf: a.loadUnaligned(as: SIMD8<Int32>.self),
                       highHalf: b.loadUnaligned(as: SIMD8<Int32>.self)) ^ flip
    }

    /// Lane sums of both rows against `x` (see the file header).
    @inline(__always)
    func dots(_ x: ActivationBlock) -> SIMD16<Int32> {
        dotBytesAccumulate(x.bias, unsigned: bytes, signed: x.codes)
    }
}

/// Writes one activation block in the VNNI layout. `q` holds the 32 codes in the low bits of Int32 lanes (as
/// `quantizeBlock` leaves them). Narrowing and group sums use the instructions directly (vpmovdb, vpdpbusd):
/// written with the SIMD API, LLVM built both lane by lane and this ran ~3% of a transformer step.
@inline(__always)
func storeActivationBlock(_ out: UnsafeMutableRawPointer, _ q: (SIMD16<Int32>, SIMD16<Int32>)) {
    let bytes = SIMD32(lowHalf: lowBytes(q.0), highHalf: lowBytes(q.1))               // q[0..<32]
    out.storeBytes(of: bytes, as: SIMD32<Int8>.self)
    // Sum of each group of 4 codes: a dot product with bytes of 1, then times -128.
    let codes = unsafeBitCast(bytes, to: SIMD8<Int32>.self)
    let ones = SIMD16<Int32>(repeating: 0x0101_0101)
    let sums = dotBytesAccumulate(SIMD16(), unsigned: ones, signed: SIMD16(lowHalf: codes, highHalf: codes)).lowHalf
    out.storeBytes(of: sums &* -128, toByteOffset: 32, as: SIMD8<Int32>.self)
}

#else

/// Prefetching is left to the hardware where the Builtin module is not enabled.
@inline(__always)
func prefetch(_ p: UnsafeRawPointer) {}

/// One quantised activation block, loaded once and used against many weight rows.
struct ActivationBlock {
    /// 256 * qX at the even positions 0, 2, ..., 30.
    var even: SIMD16<Int16>
    /// 256 * qX at the odd positions 1, 3, ..., 31.
    var odd: SIMD16<Int16>

    @inline(__always)
    init(_ p: UnsafeRawPointer) {
        even = p.loadUnaligned(as: SIMD16<Int16>.self)
        odd = p.loadUnaligned(fromByteOffset: 32, as: SIMD16<Int16>.self)
    }
}

/// Two weight rows' blocks prepared for `dots`: each row's bytes split into `w << 8` (even bytes
/// times 256) and `w & 0xFF00` (odd bytes times 256).
struct PreparedPair {
    var evenA, oddA, evenB, oddB: SIMD16<Int16>

    /// `a` and `b` point at the 32 int8 values of row A's and row B's block.
    @inline(__always)
    init(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) {
        let va = a.loadUnaligned(as: SIMD16<Int16>.self)
        let vb = b.loadUnaligned(as: SIMD16<Int16>.self)
        evenA = va &<< 8
        oddA = va & -256
        evenB = vb &<< 8
        oddB = vb & -256
    }

    /// Lane sums of both rows against `x` (row A in lanes 0..7, row B in 8..15).
    @inline(__always)
    func dots(_ x: ActivationBlock) -> SIMD16<Int32> {
        let pa = unsafeBitCast(mulhi(evenA, x.even) &+ mulhi(oddA, x.odd), to: SIMD8<Int32>.self)
        let pb = unsafeBitCast(mulhi(evenB, x.even) &+ mulhi(oddB, x.odd), to: SIMD8<Int32>.self)
        return pairSums(SIMD16(lowHalf: pa, highHalf: pb))
    }
}

/// Writes one activation block in the split layout. `q` holds the 32 codes in the low 16 bits of Int32 lanes
/// (as `quantizeBlock` leaves them).
@inline(__always)
func storeActivationBlock(_ out: UnsafeMutableRawPointer, _ q: (SIMD16<Int32>, SIMD16<Int32>)) {
    // Shifting a lane left by 8 leaves 256 * code in its low 16 bits: the even Int16 halves of the lanes.
    let first = unsafeBitCast(q.0 &<< 8, to: SIMD32<Int16>.self).evenHalf   // 256 q[0..<16]
    let second = unsafeBitCast(q.1 &<< 8, to: SIMD32<Int16>.self).evenHalf  // 256 q[16..<32]
    out.storeBytes(of: SIMD16(lowHalf: first.evenHalf, highHalf: second.evenHalf), as: SIMD16<Int16>.self)
    out.storeBytes(of: SIMD16(lowHalf: first.oddHalf, highHalf: second.oddHalf), toByteOffset: 32,
                   as: SIMD16<Int16>.self)
}

/// High 16 bits of the lane-wise 32-bit product. Written as a scalar loop because the SIMD API has
/// no such operation; LLVM turns it into one vpmulhw (x86) / smull+uzp2 (ARM).
@inline(__always)
func mulhi(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD16<Int16> {
    var r = SIMD16<Int16>()
    for i in 0..<16 { r[i] = Int16(truncatingIfNeeded: (Int32(a[i]) &* Int32(b[i])) &>> 16) }
    return r
}

/// Exact Int32 sums of adjacent Int16 lane pairs (lane l = p[2l] + p[2l+1]), on two rows at once.
@inline(__always)
func pairSums(_ p: SIMD16<Int32>) -> SIMD16<Int32> {
    ((p &<< 16) &>> 16) &+ (p &>> 16)
}

#endif

/// The lane sums of a single row's block (the pair kernel with row B = row A).
@inline(__always)
func rowDots(_ w: UnsafeRawPointer, _ x: ActivationBlock) -> SIMD8<Int32> {
    PreparedPair(w, w).dots(x).lowHalf
}
