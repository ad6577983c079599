// Q8_0 "x8" row-interleaved layout and its GEMV/GEMM kernels.
//
// The ggml 34-byte Q8_0 blocks are kept intact and only reordered: rows are grouped by 8 (the row
// count must be a multiple of 8) and, within group g, block b of rows 8g ..< 8g+8 lie next to each
// other. Row 8g+r, block b sits at byte
//     ((g * blocksPerRow + b) * 8 + r) * 34.
// The tensor keeps ggml type 8 and its byte size; only the order of blocks differs. A kernel pass over
// one group reads one sequential stream (272 bytes per block step) instead of 8 (or 32) row streams,
// each crossing its own 4 KiB pages, which is what limits `gemvQ8_0` on DRAM-resident weights.
//
// Results are bit-identical to `gemvQ8_0` / `gemmQ8_0` on the de-interleaved matrix: the per-row
// accumulation order is the one in Q8GEMV.swift's header (8 float accumulators per row, blocks in order,
// the same fixed final reduction). The helpers below repeat Q8GEMV.swift's private ones (same
// arithmetic, same names prefixed `x8`), because those are file-private there.

/// Bytes of one block step of an interleaved group (8 blocks).
private let x8StepBytes = 8 * 34

/// Rewrites a row-major Q8_0 matrix in the x8 row-interleaved layout (see file header).
///
/// - Parameters:
///   - source: `rows * columns / 32` Q8_0 blocks, rows contiguous.
///   - rows: a positive multiple of 8.
///   - columns: a positive multiple of 32.
///   - destination: the same byte count, written; must not overlap `source`.
public func interleaveQ8_0Rows(_ source: UnsafeRawPointer, rows: Int, columns: Int,
                               into destination: UnsafeMutableRawPointer) {
    permuteQ8_0Blocks(rows: rows, columns: columns) { standard, interleaved in
        (destination + interleaved).copyMemory(from: source + standard, byteCount: Q8_0.blockBytes)
    }
}

/// Inverse of `interleaveQ8_0Rows`: x8 layout back to row-major Q8_0 (same parameters).
public func deinterleaveQ8_0Rows(_ source: UnsafeRawPointer, rows: Int, columns: Int,
                                 into destination: UnsafeMutableRawPointer) {
    permuteQ8_0Blocks(rows: rows, columns: columns) { standard, interleaved in
        (destination + standard).copyMemory(from: source + interleaved, byteCount: Q8_0.blockBytes)
    }
}

/// Calls `move(standardOffset, interleavedOffset)` for every block of the matrix.
@inline(__always)
private func permuteQ8_0Blocks(rows: Int, columns: Int, _ move: (Int, Int) -> Void) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    precondition(rows > 0 && rows % 8 == 0, "the x8 layout needs a multiple of 8 rows")
    let blocks = columns / Q8_0.blockValues
    for row in 0..<rows {
        let group = row / 8, r = row % 8
        for b in 0..<blocks {
            move((row * blocks + b) * Q8_0.blockBytes, ((group * blocks + b) * 8 + r) * Q8_0.blockBytes)
        }
    }
}

/// Fast Q8_0 GEMV on an x8-interleaved matrix: `output[r] = dot(row r, activations)` for `r` in `rows`.
///
/// Bit-identical to `gemvQ8_0` on the de-interleaved matrix, for any row chunking.
///
/// - Parameters:
///   - weights: the whole interleaved matrix (any alignment).
///   - columns: values per row, a positive multiple of 32.
///   - rows: absolute rows; both bounds multiples of 8.
///   - activations: `columns` Int16 values from `quantizeActivationsQ8_0`.
///   - scales: `columns / 32` activation block scales from `quantizeActivationsQ8_0`.
///   - output: indexed by absolute row; only `output[rows]` is written.
public func gemvQ8_0Interleaved(weights: UnsafeRawPointer, columns: Int, rows: Range<Int>,
                                activations: UnsafePointer<Int16>, scales: UnsafePointer<Float>,
                                output: UnsafeMutablePointer<Float>) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    precondition(rows.lowerBound >= 0 && rows.lowerBound % 8 == 0 && rows.upperBound % 8 == 0,
                 "x8 row ranges start at >= 0 and are multiples of 8, got \(rows)")
    let blocks = columns / Q8_0.blockValues
    let groupBytes = blocks * x8StepBytes
    let x = RowContext(activations: UnsafeRawPointer(activations), scales: scales, blocks: blocks)
    var g = rows.lowerBound / 8
    let end = rows.upperBound / 8
#if !arch(arm64)
    // Four groups (32 rows, four sequential streams) per pass: 16 pair accumulators in registers.
    while g + 4 <= end {
        x8FourGroups(weights + g * groupBytes, groupBytes, x, output + 8 * g)
        g += 4
    }
#endif
    while g < end {
        x8Group(weights + g * groupBytes, x, output + 8 * g)
        g += 1
    }
}

/// Fast Q8_0 GEMM of an x8-interleaved matrix against a small batch, mirroring `gemmQ8_0`:
/// `output[j * outputStride + r] = dot(row r, activation j)`, bit-identical to per-vector GEMV.
///
/// Each group's blocks are unpacked once per pair of activations (the group stays in L1/L2 between
/// the pairs), so the matrix is streamed from memory once.
///
/// - Parameters:
///   - weights, columns, rows: as for `gemvQ8_0Interleaved`.
///   - batch: number of activation vectors, >= 1.
///   - activations: `batch * columns` Int16 values, vector j at `activations + j * columns`.
///   - scales: `batch * columns / 32` floats, vector j at `scales + j * columns / 32`.
///   - output: vector j's results at `output + j * outputStride`, indexed by absolute row.
///   - outputStride: distance between output vectors, at least `rows.upperBound`.
public func gemmQ8_0Interleaved(weights: UnsafeRawPointer, columns: Int, rows: Range<Int>, batch: Int,
                                activations: UnsafePointer<Int16>, scales: UnsafePointer<Float>,
                                output: UnsafeMutablePointer<Float>, outputStride: Int) {
    precondition(columns > 0 && columns % Q8_0.blockValues == 0, "Q8_0 rows hold a multiple of 32 values")
    precondition(rows.lowerBound >= 0 && rows.lowerBound % 8 == 0 && rows.upperBound % 8 == 0,
                 "x8 row ranges start at >= 0 and are multiples of 8, got \(rows)")
    precondition(batch >= 1, "batch must be at least 1")
    if batch == 1 {
        gemvQ8_0Interleaved(weights: weights, columns: columns, rows: rows, activations: activations,
                            scales: scales, output: output)
        return
    }
    let blocks = columns / Q8_0.blockValues
    let groupBytes = blocks * x8StepBytes
    func context(_ j: Int) -> RowContext {
        RowContext(activations: UnsafeRawPointer(activations + j * columns), scales: scales + j * blocks,
                  blocks: blocks)
    }
    for g in (rows.lowerBound / 8)..<(rows.upperBound / 8) {
        let w = weights + g * groupBytes
        var j = 0
        while j + 2 <= batch {
            x8GroupBatch2(w, context(j), context(j + 1), output + j * outputStride + 8 * g, outputStride)
            j += 2
        }
        if j < batch { x8Group(w, context(j), output + j * outputStride + 8 * g) }
    }
}

// MARK: - Building blocks (the arithmetic helpers are Q8GEMV.swift's)

/// The 8 weight scales of one block step (`q` points at row 0's block; rows 34 bytes apart).
@inline(__always)
private func x8WeightScales(_ q: UnsafeRawPointer) -> SIMD8<Float> {
#if (CLIPGEN_FMA || arch(arm64)) && !(os(macOS) && arch(x86_64))
    var s = SIMD8<Float>()
    for i in 0..<8 {
        s[i] = Float(Float16(bitPattern: q.loadUnaligned(fromByteOffset: i * 34, as: UInt16.self)))
    }
    return s
#else
    var h = SIMD16<UInt32>()
    for i in 0..<8 { h[i] = UInt32(q.loadUnaligned(fromByteOffset: i * 34, as: UInt16.self)) }
    return floatsFromFiniteHalfBits(h).lowHalf
#endif
}

/// Lanes 2k (row A) and 2k+1 (row B) of `s` spread over the two halves of a pair's scale vector.
@inline(__always)
private func x8Spread(_ s: SIMD8<Float>, _ k: Int) -> SIMD16<Float> {
    SIMD16(lowHalf: SIMD8(repeating: s[2 * k]), highHalf: SIMD8(repeating: s[2 * k + 1]))
}

/// Adds rows 2k, 2k+1 of one block step (`q`) into pair accumulator `acc`.
@inline(__always)
private func x8PairStep(_ q: UnsafeRawPointer, _ k: Int, _ x: ActivationBlock,
                        _ s: SIMD8<Float>, _ acc: inout SIMD16<Float>) {
    let pair = PreparedPair(q + (2 * k * 34 + Q8_0.valuesOffset), q + ((2 * k + 1) * 34 + Q8_0.valuesOffset))
    acc = mulAdd(floats(pair.dots(x)), x8Spread(s, k), acc)
}

/// One group (8 rows, 4 pair accumulators); `w` points at the group, results to `y[0 ..< 8]`.
private func x8Group(_ w: UnsafeRawPointer, _ x: RowContext, _ y: UnsafeMutablePointer<Float>) {
    let zero = SIMD16<Float>(repeating: 0)
    var a0 = zero, a1 = zero, a2 = zero, a3 = zero
    var q = w
    for b in 0..<x.blocks {
        let xb = activation(x, b)
        let s = x8WeightScales(q) * x.scales[b]
        x8PairStep(q, 0, xb, s, &a0)
        x8PairStep(q, 1, xb, s, &a1)
        x8PairStep(q, 2, xb, s, &a2)
        x8PairStep(q, 3, xb, s, &a3)
        q += x8StepBytes
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 4) { acc in
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3
        storePairs(acc.baseAddress!, count: 4, y)
    }
}

/// Four consecutive groups (32 rows) per pass; `w` points at the first, groups `gb` bytes apart.
private func x8FourGroups(_ w: UnsafeRawPointer, _ gb: Int, _ x: RowContext, _ y: UnsafeMutablePointer<Float>) {
    let zero = SIMD16<Float>(repeating: 0)
    var a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero
    var a8 = zero, a9 = zero, a10 = zero, a11 = zero, a12 = zero, a13 = zero, a14 = zero, a15 = zero
    var q = w
    for b in 0..<x.blocks {
        let xb = activation(x, b)
        let dx = x.scales[b]
        let s0 = x8WeightScales(q) * dx
        x8PairStep(q, 0, xb, s0, &a0); x8PairStep(q, 1, xb, s0, &a1)
        x8PairStep(q, 2, xb, s0, &a2); x8PairStep(q, 3, xb, s0, &a3)
        let q1 = q + gb
        let s1 = x8WeightScales(q1) * dx
        x8PairStep(q1, 0, xb, s1, &a4); x8PairStep(q1, 1, xb, s1, &a5)
        x8PairStep(q1, 2, xb, s1, &a6); x8PairStep(q1, 3, xb, s1, &a7)
        let q2 = q1 + gb
        let s2 = x8WeightScales(q2) * dx
        x8PairStep(q2, 0, xb, s2, &a8); x8PairStep(q2, 1, xb, s2, &a9)
        x8PairStep(q2, 2, xb, s2, &a10); x8PairStep(q2, 3, xb, s2, &a11)
        let q3 = q2 + gb
        let s3 = x8WeightScales(q3) * dx
        x8PairStep(q3, 0, xb, s3, &a12); x8PairStep(q3, 1, xb, s3, &a13)
        x8PairStep(q3, 2, xb, s3, &a14); x8PairStep(q3, 3, xb, s3, &a15)
        q += x8StepBytes
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { acc in
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7
        acc[8] = a8; acc[9] = a9; acc[10] = a10; acc[11] = a11; acc[12] = a12; acc[13] = a13; acc[14] = a14
        acc[15] = a15
        storePairs(acc.baseAddress!, count: 16, y)
    }
}

/// One group against two activations; results of activation j at `y + j * stride`.
private func x8GroupBatch2(_ w: UnsafeRawPointer, _ x0: RowContext, _ x1: RowContext,
                           _ y: UnsafeMutablePointer<Float>, _ stride: Int) {
    let zero = SIMD16<Float>(repeating: 0)
    var a0 = zero, a1 = zero, a2 = zero, a3 = zero, c0 = zero, c1 = zero, c2 = zero, c3 = zero
    var q = w
    for b in 0..<x0.blocks {
        let ws = x8WeightScales(q)
        let xb = activation(x0, b)
        let s = ws * x0.scales[b]
        x8PairStep(q, 0, xb, s, &a0); x8PairStep(q, 1, xb, s, &a1)
        x8PairStep(q, 2, xb, s, &a2); x8PairStep(q, 3, xb, s, &a3)
        let yb = activation(x1, b)
        let t = ws * x1.scales[b]
        x8PairStep(q, 0, yb, t, &c0); x8PairStep(q, 1, yb, t, &c1)
        x8PairStep(q, 2, yb, t, &c2); x8PairStep(q, 3, yb, t, &c3)
        q += x8StepBytes
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 8) { acc in
        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = c0; acc[5] = c1; acc[6] = c2; acc[7] = c3
        storePairs(acc.baseAddress!, count: 4, y)
        storePairs(acc.baseAddress! + 4, count: 4, y + stride)
    }
}
