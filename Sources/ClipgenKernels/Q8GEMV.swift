// Q8_0 matrix-vector products, y = W x, with W in ggml Q8_0 blocks read in place (row-major, rows
// contiguous, as stored in the GGUF file) and x quantised to Q8_0 on the fly, as ggml's
// `ggml_vec_dot_q8_0_q8_0` does. Pure stdlib Swift; threading is the caller's business: every entry
// point takes a row range and writes only `output[rows]`.
//
// Accumulation order (the contract that makes fast == reference bit for bit):
//   each row keeps 8 float accumulators a0..a7, all starting at 0; for every block b in order,
//     a[l] = a[l] + Float(sum_{k<4} qW[b][4l+k] * qX[b][4l+k]) * (dW[b] * dX[b])      for l in 0..<8
//   (the integer sum is exact; the multiply-add is fused where `mulAdd` is, see below), and the row
//   result is ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
// The SIMD kernels compute exactly this (a lane of a vector register is one a[l]), and so does the
// scalar `gemvQ8_0Reference`, so results are identical for any row chunking, batch size or thread
// count. ggml sums block by block instead; the two differ only by float reassociation.
//
// Why the fast kernel looks the way it does (measured on a 2-core Sapphire Rapids guest, weights
// streamed from an mmapped file; see the benchmark notes in the report):
//  * The int8 block dot product itself is Q8Dot.swift's: one vpdpbusd per block pair on a VNNI host,
//    16-bit multiplies elsewhere.
//  * A GEMV on DRAM-resident weights is limited by how many cache misses are in flight, which grows
//    with the number of rows streamed at once (each row is a hardware-prefetcher stream) and shrinks
//    with the instructions spent per byte. Rows per pass vs GB/s (4096 columns, 1 thread, same code
//    per row): 1: 6.9, 2: 8.7, 4: 9.6, 8: 11.0, 16: 12.1, 32: 12.6 (read roofline ~15). Rows are paired
//    so that the Int32 widening, int->float conversion and multiply-add run on 16-lane (512-bit)
//    vectors, one per pair, and 16 pair accumulators fit in registers.
//  * The row stride is made a compile-time constant for common widths so that the 32 row addresses fold
//    into address displacements instead of spilled registers. On VNNI builds each row is also prefetched a
//    little ahead (`q8PrefetchAhead`), through the same Builtin module as the dot product.

/// Multiply-add `c + a * b`: fused where FMA is one instruction, plain otherwise (never a libm call).
@inline(__always)
func mulAdd(_ a: Float, _ b: Float, _ c: Float) -> Float {
#if CLIPGEN_FMA || arch(arm64)
    return c.addingProduct(a, b)
#else
    return c + a * b
#endif
}

/// Lane-wise `c + a * b`, fused or not exactly like the scalar `mulAdd`.
@inline(__always)
func mulAdd<V: SIMD>(_ a: V, _ b: V, _ c: V) -> V where V.Scalar == Float {
#if CLIPGEN_FMA || arch(arm64)
    return c.addingProduct(a, b)
#else
    return c + a * b
#endif
}

// MARK: - Public entry points

/// Fast Q8_0 GEMV: `output[r] = dot(row r of weights, activations)` for `r` in `rows`.
///
/// - Parameters:
///   - weights: the whole matrix, `rowCount * columns / 32` Q8_0 blocks of 34 bytes, rows contiguous
///     (any alignment; typically a view into the mapped GGUF file).
///   - columns: values per row, a positive multiple of 32.
///   - rows: the rows to compute (absolute indices into the matrix).
///   - activations: `columns` Int16 values from `quantizeActivationsQ8_0`.
///   - scales: `columns / 32` activation block scales from `quantizeActivationsQ8_0`.
///   - output: indexed by absolute row; only `output[rows]` is written.
public func gemvQ8_0(weights: UnsafeRawPointer, columns: Int, rows: Range<Int>,
                     activations: UnsafePointer<Int16>, scales: UnsafePointer<Float>,
                     output: UnsafeMutablePointer<Float>) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    precondition(rows.lowerBound >= 0, "gemvQ8_0: rows \(rows) must start at >= 0")
    let rowBytes = Q8_0.rowBytes(columns: columns)
    let x = RowContext(activations: UnsafeRawPointer(activations), scales: scales, blocks: columns / 32)
    var r = rows.lowerBound
#if arch(arm64)
    // 16 pair accumulators are 64 NEON registers (there are 32): the 32-row pass would spill every
    // accumulator each block (checked with -target-cpu cortex-a76), so ARM streams two rows per pass
    // for now. (Its real fast path would be sdot, which needs its own kernel.)
    let groupEnd = r
#else
    let groupEnd = rows.lowerBound + (rows.count / 32) * 32
#endif
    if r < groupEnd {
        // A constant stride lets the 32 row addresses become displacements (see file header).
        switch rowBytes {
        case 544: groupsOf32(weights, rowBytes: 544, x, r..<groupEnd, output)     // 512 columns
        case 816: groupsOf32(weights, rowBytes: 816, x, r..<groupEnd, output)     // 768
        case 1088: groupsOf32(weights, rowBytes: 1088, x, r..<groupEnd, output)   // 1024
        case 1360: groupsOf32(weights, rowBytes: 1360, x, r..<groupEnd, output)   // 1280
        case 2176: groupsOf32(weights, rowBytes: 2176, x, r..<groupEnd, output)   // 2048
        case 3264: groupsOf32(weights, rowBytes: 3264, x, r..<groupEnd, output)   // 3072
        case 4352: groupsOf32(weights, rowBytes: 4352, x, r..<groupEnd, output)   // 4096
        case 5440: groupsOf32(weights, rowBytes: 5440, x, r..<groupEnd, output)   // 5120
        default: groupsOf32(weights, rowBytes: rowBytes, x, r..<groupEnd, output)
        }
        r = groupEnd
    }
    while r + 2 <= rows.upperBound {
        rowPair(weights + r * rowBytes, rowBytes: rowBytes, x, output + r)
        r += 2
    }
    if r < rows.upperBound {
        singleRow(weights + r * rowBytes, x, output + r)
    }
}

/// Scalar reference twin of `gemvQ8_0`, quantising `input` itself: same bits, far slower.
///
/// Follows the accumulation order in the file header literally, with ggml's reference quantiser.
/// Scales must be finite (the fast kernel's scale conversion assumes it).
///
/// - Parameters:
///   - weights: as for `gemvQ8_0`.
///   - columns: a positive multiple of 32.
///   - rows: the rows to compute; only `output[rows]` is written.
///   - input: `columns` floats, quantised here with `quantizeRowQ8_0Reference`.
///   - output: indexed by absolute row.
public func gemvQ8_0Reference(weights: UnsafeRawPointer, columns: Int, rows: Range<Int>,
                              input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    let blocks = columns / Q8_0.blockValues
    let qx = UnsafeMutablePointer<Int8>.allocate(capacity: columns)
    let dx = UnsafeMutablePointer<Float>.allocate(capacity: blocks)
    defer { qx.deallocate(); dx.deallocate() }
    quantizeActivationsQ8_0Reference(input, count: columns, values: qx, scales: dx)
    for r in rows {
        let row = weights + r * Q8_0.rowBytes(columns: columns)
        var a: [Float] = [0, 0, 0, 0, 0, 0, 0, 0]
        for b in 0..<blocks {
            let block = row + b * Q8_0.blockBytes
            let scale = floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * dx[b]
            for l in 0..<8 {
                var sum: Int32 = 0
                for k in 0..<4 {
                    let j = 4 * l + k
                    sum += Int32(block.load(fromByteOffset: Q8_0.valuesOffset + j, as: Int8.self))
                        * Int32(qx[b * Q8_0.blockValues + j])
                }
                a[l] = mulAdd(Float(sum), scale, a[l])
            }
        }
        output[r] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }
}

/// Fast Q8_0 GEMM against a small batch: `output[j * outputStride + r] = dot(row r, activation j)`.
///
/// Each weight block is loaded and unpacked once per group of up to 4 activations (the batch is
/// taken 4 at a time, reusing the rows from L1), so B candidate sequences cost far less than B
/// GEMVs. Results are bit-identical to `gemvQ8_0` on each activation alone.
///
/// - Parameters:
///   - weights, columns, rows: as for `gemvQ8_0`.
///   - batch: number of activation vectors, >= 1.
///   - activations: `batch * columns` Int16 values, vector j at `activations + j * columns`.
///   - scales: `batch * columns / 32` floats, vector j at `scales + j * columns / 32`.
///   - output: vector j's results at `output + j * outputStride`, indexed by absolute row.
///   - outputStride: distance between output vectors, at least `rows.upperBound`.
public func gemmQ8_0(weights: UnsafeRawPointer, columns: Int, rows: Range<Int>, batch: Int,
                     activations: UnsafePointer<Int16>, scales: UnsafePointer<Float>,
                     output: UnsafeMutablePointer<Float>, outputStride: Int) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    precondition(batch >= 1, "batch must be at least 1")
    precondition(rows.lowerBound >= 0 && outputStride >= rows.upperBound,
                 "gemmQ8_0: rows \(rows) must start at >= 0 and fit in outputStride \(outputStride)")
    let blocks = columns / 32
    let rowBytes = Q8_0.rowBytes(columns: columns)
    func context(_ j: Int) -> RowContext {
        RowContext(activations: UnsafeRawPointer(activations + j * columns), scales: scales + j * blocks,
                   blocks: blocks)
    }
    if batch == 1 {
        gemvQ8_0(weights: weights, columns: columns, rows: rows, activations: activations, scales: scales,
                 output: output)
        return
    }
    var r = rows.lowerBound
    while r < rows.upperBound {
        // Four rows (two pairs) against the batch, four or two activations at a time; the rows stay
        // in L1 between those passes, so the matrix is streamed from memory once.
        let groupRows = Swift.min(4, rows.upperBound - r)
        let w = weights + r * rowBytes
        var j = 0
        while j < batch {
            let out = output + j * outputStride + r
            if groupRows == 4 && batch - j >= 4 {
                batchGroup4(w, rowBytes, context(j), context(j + 1), context(j + 2), context(j + 3), out, outputStride)
                j += 4
            } else if groupRows == 4 && batch - j >= 2 {
                batchGroup2(w, rowBytes, context(j), context(j + 1), out, outputStride)
                j += 2
            } else {
                // One activation left, or fewer than four rows: the plain pair and row kernels.
                var rr = 0
                while rr + 2 <= groupRows {
                    rowPair(w + rr * rowBytes, rowBytes: rowBytes, context(j), out + rr)
                    rr += 2
                }
                if rr < groupRows { singleRow(w + rr * rowBytes, context(j), out + rr) }
                j += 1
            }
        }
        r += groupRows
    }
}

// MARK: - Building blocks (internal: Q8Interleaved.swift uses the same arithmetic)

/// One quantised activation vector as the kernels read it.
struct RowContext {
    /// Quantised values in the layout of Q8Dot.swift (see `quantizeActivationsQ8_0`), 64 bytes per block.
    var activations: UnsafeRawPointer
    /// Per-block activation scales.
    var scales: UnsafePointer<Float>
    /// Blocks per row.
    var blocks: Int
}

/// Exact Int32 -> Float (|x| < 2^24). A scalar loop because stdlib SIMD conversions are slow;
/// LLVM makes it one vcvtdq2ps / scvtf.
@inline(__always)
func floats(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var r = SIMD8<Float>()
    for i in 0..<8 { r[i] = Float(v[i]) }
    return r
}

@inline(__always)
func floats(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// The weight scales of two blocks (binary16 at `a` and `b`) as floats.
@inline(__always)
private func halfPair(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> SIMD2<Float> {
    let ha = UInt16(littleEndian: a.loadUnaligned(as: UInt16.self))
    let hb = UInt16(littleEndian: b.loadUnaligned(as: UInt16.self))
#if (CLIPGEN_FMA || arch(arm64)) && !(os(macOS) && arch(x86_64))
    // Hardware conversion (F16C vcvtph2ps / ARM fcvtl).
    return SIMD2(Float(Float16(bitPattern: ha)), Float(Float16(bitPattern: hb)))
#else
    // Portable build: Float16 may be missing, or a library call.
    return SIMD2(floatFromHalfBits(ha), floatFromHalfBits(hb))
#endif
}

/// Adds one block of two rows (`wa`, `wb` point at their int8 values) into a pair accumulator (row A
/// lanes 0..7, row B lanes 8..15);
/// `scale` holds dW * dX of row A in lanes 0..7 and of row B in lanes 8..15.
@inline(__always)
private func pairStep(_ wa: UnsafeRawPointer, _ wb: UnsafeRawPointer, _ x: ActivationBlock,
                      _ scale: SIMD16<Float>, _ acc: inout SIMD16<Float>) {
    acc = mulAdd(floats(PreparedPair(wa, wb).dots(x)), scale, acc)
}

/// Scales lanes 2k (row A) and 2k+1 (row B) of `s` out to the two halves of a pair's scale vector.
@inline(__always)
private func spread(_ s: SIMD16<Float>, _ k: Int) -> SIMD16<Float> {
    SIMD16(lowHalf: SIMD8(repeating: s[2 * k]), highHalf: SIMD8(repeating: s[2 * k + 1]))
}

/// The same for a 2-lane scale vector.
@inline(__always)
private func spread(_ s: SIMD2<Float>) -> SIMD16<Float> {
    SIMD16(lowHalf: SIMD8(repeating: s[0]), highHalf: SIMD8(repeating: s[1]))
}

/// The weight scales of one block in rows `first ..< first + 16` (`q` points at row 0's block).
///
/// Gathered into one vector on purpose: written per pair, LLVM's SLP vectoriser merges the 2-lane
/// conversions of all pairs and drags cross-accumulator shuffles into the loop.
@inline(__always)
private func weightScales16(_ q: UnsafeRawPointer, first: Int, _ rowBytes: Int) -> SIMD16<Float> {
#if (CLIPGEN_FMA || arch(arm64)) && !(os(macOS) && arch(x86_64))
    var s = SIMD16<Float>()
    for i in 0..<16 {
        s[i] = Float(Float16(bitPattern: q.loadUnaligned(fromByteOffset: (i + first) * rowBytes, as: UInt16.self)))
    }
    return s
#else
    var h = SIMD16<UInt32>()
    for i in 0..<16 {
        h[i] = UInt32(q.loadUnaligned(fromByteOffset: (i &+ first) &* rowBytes, as: UInt16.self))
    }
    return floatsFromFiniteHalfBits(h)
#endif
}

/// The fixed final reduction of a row's 8 accumulators.
@inline(__always)
func rowTotal(_ a: SIMD8<Float>) -> Float {
    let h4 = a.lowHalf + a.highHalf  // (a0+a4, a1+a5, a2+a6, a3+a7)
    let h2 = h4.lowHalf + h4.highHalf
    return h2[0] + h2[1]
}

/// Writes the row results of `count` pair accumulators to `y[0 ..< 2 count]`.
@inline(never)
func storePairs(_ acc: UnsafePointer<SIMD16<Float>>, count: Int, _ y: UnsafeMutablePointer<Float>) {
    for i in 0..<count { storePair(acc[i], y + 2 &* i) }
}

/// Writes the two row results of a pair accumulator.
@inline(__always)
private func storePair(_ a: SIMD16<Float>, _ y: UnsafeMutablePointer<Float>) {
    y[0] = rowTotal(a.lowHalf)
    y[1] = rowTotal(a.highHalf)
}

/// Activation block `b`.
@inline(__always)
func activation(_ x: RowContext, _ b: Int) -> ActivationBlock {
    ActivationBlock(x.activations + b &* 64)
}

/// Bytes ahead of the current block at which `groupsOf32` prefetches each of its 32 rows (VNNI builds; elsewhere
/// `prefetch` is a no-op). Measured with `clipgen bench kernels --threads 2` on builds with each distance set here
/// (2026-11-30; 4096x4096, rows layout, GB/s, two alternating sweeps): none 22.2 / 20.7, 128 bytes 24.8 / 23.1, 256 bytes 21.2 / 21.9, 384 bytes 22.7 / 21.1,
/// 1024 bytes 20.1 / 22.1. Two lines ahead is enough: the lines are already on their way from the L2 streamer,
/// the prefetch only gets them into L1 before the loads ask.
let q8PrefetchAhead = 128

/// 32 rows per pass (16 pair accumulators) over `rows` (a multiple of 32 long).
@inline(__always)
private func groupsOf32(_ weights: UnsafeRawPointer, rowBytes rb: Int, _ x: RowContext, _ rows: Range<Int>,
                        _ output: UnsafeMutablePointer<Float>) {
    var r = rows.lowerBound
    while r + 32 <= rows.upperBound {
        let base = weights + r * rb
        let zero = SIMD16<Float>(repeating: 0)
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero
        var a8 = zero, a9 = zero, a10 = zero, a11 = zero, a12 = zero, a13 = zero, a14 = zero, a15 = zero
        var offset = 0  // of block b within a row
        for b in 0..<x.blocks {
            let xb = activation(x, b)
            let q = base + offset
            if b & 1 == 0 {
                // Every other block (68 bytes, about a cache line), touch each row's line `q8PrefetchAhead` ahead.
                for i in 0..<32 { prefetch(q + (q8PrefetchAhead + i &* rb)) }
            }
            var s = weightScales16(q, first: 0, rb)  // rows 0..15
            s *= x.scales[b]                         // dW * dX
            let w = q + Q8_0.valuesOffset
            pairStep(w, w + rb, xb, spread(s, 0), &a0)
            pairStep(w + 2 * rb, w + 3 * rb, xb, spread(s, 1), &a1)
            pairStep(w + 4 * rb, w + 5 * rb, xb, spread(s, 2), &a2)
            pairStep(w + 6 * rb, w + 7 * rb, xb, spread(s, 3), &a3)
            pairStep(w + 8 * rb, w + 9 * rb, xb, spread(s, 4), &a4)
            pairStep(w + 10 * rb, w + 11 * rb, xb, spread(s, 5), &a5)
            pairStep(w + 12 * rb, w + 13 * rb, xb, spread(s, 6), &a6)
            pairStep(w + 14 * rb, w + 15 * rb, xb, spread(s, 7), &a7)
            var t = weightScales16(q, first: 16, rb)  // rows 16..31
            t *= x.scales[b]
            let v = w + 16 * rb
            pairStep(v, v + rb, xb, spread(t, 0), &a8)
            pairStep(v + 2 * rb, v + 3 * rb, xb, spread(t, 1), &a9)
            pairStep(v + 4 * rb, v + 5 * rb, xb, spread(t, 2), &a10)
            pairStep(v + 6 * rb, v + 7 * rb, xb, spread(t, 3), &a11)
            pairStep(v + 8 * rb, v + 9 * rb, xb, spread(t, 4), &a12)
            pairStep(v + 10 * rb, v + 11 * rb, xb, spread(t, 5), &a13)
            pairStep(v + 12 * rb, v + 13 * rb, xb, spread(t, 6), &a14)
            pairStep(v + 14 * rb, v + 15 * rb, xb, spread(t, 7), &a15)
            offset += 34
        }
        // Reduced out of line from memory: inlined, LLVM vectorises the 32 row totals across the
        // accumulators and moves the resulting shuffles into the block loop.
        withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { acc in
            acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7
            acc[8] = a8; acc[9] = a9; acc[10] = a10; acc[11] = a11; acc[12] = a12; acc[13] = a13; acc[14] = a14
            acc[15] = a15
            storePairs(acc.baseAddress!, count: 16, output + r)
        }
        r += 32
    }
}

/// Two rows (the leftovers of `groupsOf32`); `row` points at the first, results go to `y[0]`, `y[1]`.
private func rowPair(_ row: UnsafeRawPointer, rowBytes: Int, _ x: RowContext, _ y: UnsafeMutablePointer<Float>) {
    var acc = SIMD16<Float>(repeating: 0)
    for b in 0..<x.blocks {
        let xb = activation(x, b)
        let q = row + b &* Q8_0.blockBytes
        pairStep(q + Q8_0.valuesOffset, q + rowBytes + Q8_0.valuesOffset, xb,
                 spread(halfPair(q, q + rowBytes) * x.scales[b]), &acc)
    }
    storePair(acc, y)
}

/// One row (an odd row left over); same arithmetic as a pair lane, on 256-bit vectors.
private func singleRow(_ row: UnsafeRawPointer, _ x: RowContext, _ y: UnsafeMutablePointer<Float>) {
    var acc = SIMD8<Float>(repeating: 0)
    for b in 0..<x.blocks {
        let q = row + b &* Q8_0.blockBytes
        let s = halfPair(q, q)[0] * x.scales[b]
        acc = mulAdd(floats(rowDots(q + Q8_0.valuesOffset, activation(x, b))), SIMD8(repeating: s), acc)
    }
    y[0] = rowTotal(acc)
}

/// The four rows of a batch group at one block, loaded and prepared once for every activation, and
/// the weight scales of rows (0, 1) and (2, 3).
private struct SplitBlock {
    var rows01, rows23: PreparedPair
    var d01, d23: SIMD2<Float>

    @inline(__always)
    init(_ q: UnsafeRawPointer, _ rb: Int) {
        let w = q + Q8_0.valuesOffset
        rows01 = PreparedPair(w, w + rb)
        rows23 = PreparedPair(w + 2 &* rb, w + 3 &* rb)
        d01 = halfPair(q, q + rb)
        d23 = halfPair(q + 2 &* rb, q + 3 &* rb)
    }

    /// Adds this block times activation `x` (block `b`) into the accumulators of rows 0-1 and 2-3.
    @inline(__always)
    func accumulate(_ x: RowContext, _ b: Int, _ low: inout SIMD16<Float>, _ high: inout SIMD16<Float>) {
        let xb = activation(x, b)
        let dx = x.scales[b]
        low = mulAdd(floats(rows01.dots(xb)), spread(d01 * dx), low)
        high = mulAdd(floats(rows23.dots(xb)), spread(d23 * dx), high)
    }
}

/// Four rows against four activations (`x0`...`x3`); results of activation j at `out + j * stride`.
private func batchGroup4(_ w: UnsafeRawPointer, _ rb: Int, _ x0: RowContext, _ x1: RowContext,
                         _ x2: RowContext, _ x3: RowContext, _ out: UnsafeMutablePointer<Float>, _ stride: Int) {
    let zero = SIMD16<Float>(repeating: 0)
    var l0 = zero, h0 = zero, l1 = zero, h1 = zero, l2 = zero, h2 = zero, l3 = zero, h3 = zero
    var q = w
    for b in 0..<x0.blocks {
        let block = SplitBlock(q, rb)
        block.accumulate(x0, b, &l0, &h0)
        block.accumulate(x1, b, &l1, &h1)
        block.accumulate(x2, b, &l2, &h2)
        block.accumulate(x3, b, &l3, &h3)
        q += Q8_0.blockBytes
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 8) { acc in
        acc[0] = l0; acc[1] = h0; acc[2] = l1; acc[3] = h1; acc[4] = l2; acc[5] = h2; acc[6] = l3; acc[7] = h3
        for j in 0..<4 { storePairs(acc.baseAddress! + 2 &* j, count: 2, out + j &* stride) }
    }
}

/// Four rows against two activations.
private func batchGroup2(_ w: UnsafeRawPointer, _ rb: Int, _ x0: RowContext, _ x1: RowContext,
                         _ out: UnsafeMutablePointer<Float>, _ stride: Int) {
    let zero = SIMD16<Float>(repeating: 0)
    var l0 = zero, h0 = zero, l1 = zero, h1 = zero
    var q = w
    for b in 0..<x0.blocks {
        let block = SplitBlock(q, rb)
        block.accumulate(x0, b, &l0, &h0)
        block.accumulate(x1, b, &l1, &h1)
        q += Q8_0.blockBytes
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 4) { acc in
        acc[0] = l0; acc[1] = h0; acc[2] = l1; acc[3] = h1
        for j in 0..<2 { storePairs(acc.baseAddress! + 2 &* j, count: 2, out + j &* stride) }
    }
}
