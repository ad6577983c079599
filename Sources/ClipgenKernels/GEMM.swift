// F32 matrix multiply: C[M, N] (+)= A[M, K] @ B[K, N] (+ bias[N]), all row-major with leading dimensions.
//
// Structure (BLIS-style, reduced to what the runtime needs):
// - a register tile of `gemmTileRows` x `gemmTileColumns` accumulators (`GemmTile`): per k, 2 vector loads
//   of B and one broadcast per row feed 16 FMAs;
// - B is read from panels of `gemmTileColumns` columns packed contiguously along K, either packed once
//   (`gemmPackB`, for weights) or packed on the fly, one L1-sized K block at a time;
// - A is packed per K block, 8 rows interleaved, so a tile reads one stream (rows of A `lda` apart
//   with lda a multiple of 1024 floats all fall in one L1 set: unpacked, 256x3072 @ 3072x768 ran at half speed).
//
// Determinism: every output element is ONE multiply-add chain: its start value (C and/or the bias, or 0),
// then k = 0, 1, ..., K-1 in order. Tiling, K blocking and the caller's row/column split only change which
// elements are computed side by side, never the order inside a chain. So any split of the rows or columns
// gives bit-identical results, and `gemm` equals `gemmReference` bit for bit.

#if arch(x86_64) && CLIPGEN_FMA
// Host-tuned x86 build (assumes AVX-512): 32 zmm registers. An 8 x 32 tile is 16 accumulators, 2 B vectors
// and 1 broadcast; 16 FMAs per k hide the 4-cycle FMA latency on 2 ports. A 12 x 32 tile (24 accumulators)
// measured no faster here, and 8 rows keep one tile for every target. An AVX2-only host would want SIMD8
// (16 ymm registers); the build does not tell us which, so a host-tuned build assumes AVX-512.
@usableFromInline typealias GemmVector = SIMD16<Float>
#else
// arm64 NEON (32 x 128-bit registers): an 8 x 8 tile of SIMD4 vectors, 16 accumulators, all in registers
// with room for B and the broadcasts. A portable x86 build (SSE, 16 xmm) uses it too and spills a little:
// it is a correct fallback, not a fast path.
@usableFromInline typealias GemmVector = SIMD4<Float>
#endif

/// Rows of the register tile; a row split on a multiple of it wastes no work.
public let gemmTileRows = 8
/// Columns of the register tile and of a packed B panel; a column split on a multiple of it wastes no work.
public let gemmTileColumns = 2 * GemmVector.scalarCount
/// K block: one packed B block (256 x 32 floats = 32 KiB on AVX-512) stays in L1 while the row tiles stream A.
let gemmKBlock = 256

/// One fused (or, in a portable x86 build, separately rounded) multiply-add: acc + a * b.
/// Scalar and vector forms round identically, which makes the reference twins bit-exact.
@inline(__always) func gemmFMA(_ acc: GemmVector, _ a: GemmVector, _ b: GemmVector) -> GemmVector {
    #if CLIPGEN_FMA || arch(arm64)
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

/// Scalar twin of the vector multiply-add, same rounding.
@inline(__always) func gemmFMA(_ acc: Float, _ a: Float, _ b: Float) -> Float {
    #if CLIPGEN_FMA || arch(arm64)
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always) func gemmLoad(_ p: UnsafePointer<Float>) -> GemmVector {
    UnsafeRawPointer(p).loadUnaligned(as: GemmVector.self)
}

@inline(__always) func gemmStore(_ v: GemmVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: GemmVector.self)
}

/// The eight A row pointers one register tile reads (each already offset to its first k); used by
/// `conv2d`, whose rows are input pixels gathered per kernel tap.
@usableFromInline struct GemmRows {
    var p0, p1, p2, p3, p4, p5, p6, p7: UnsafePointer<Float>

    @inline(__always) init(_ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>,
                           _ p3: UnsafePointer<Float>, _ p4: UnsafePointer<Float>, _ p5: UnsafePointer<Float>,
                           _ p6: UnsafePointer<Float>, _ p7: UnsafePointer<Float>) {
        (self.p0, self.p1, self.p2, self.p3, self.p4, self.p5, self.p6, self.p7) = (p0, p1, p2, p3, p4, p5, p6, p7)
    }
}

/// The register tile: 8 rows x 2 vectors of accumulators. // [gemmTileRows, gemmTileColumns]
@usableFromInline struct GemmTile {
    var r0a, r0b, r1a, r1b, r2a, r2b, r3a, r3b: GemmVector
    var r4a, r4b, r5a, r5b, r6a, r6b, r7a, r7b: GemmVector

    /// Loads 8 rows of `gemmTileColumns` floats, `ld` apart (`ld == 0` repeats one row, e.g. a bias).
    @inline(__always) init(_ p: UnsafePointer<Float>, ld: Int) {
        let w = GemmVector.scalarCount
        r0a = gemmLoad(p); r0b = gemmLoad(p + w)
        r1a = gemmLoad(p + ld); r1b = gemmLoad(p + ld + w)
        r2a = gemmLoad(p + 2 * ld); r2b = gemmLoad(p + 2 * ld + w)
        r3a = gemmLoad(p + 3 * ld); r3b = gemmLoad(p + 3 * ld + w)
        r4a = gemmLoad(p + 4 * ld); r4b = gemmLoad(p + 4 * ld + w)
        r5a = gemmLoad(p + 5 * ld); r5b = gemmLoad(p + 5 * ld + w)
        r6a = gemmLoad(p + 6 * ld); r6b = gemmLoad(p + 6 * ld + w)
        r7a = gemmLoad(p + 7 * ld); r7b = gemmLoad(p + 7 * ld + w)
    }

    @inline(__always) func store(_ p: UnsafeMutablePointer<Float>, ld: Int) {
        let w = GemmVector.scalarCount
        gemmStore(r0a, p); gemmStore(r0b, p + w)
        gemmStore(r1a, p + ld); gemmStore(r1b, p + ld + w)
        gemmStore(r2a, p + 2 * ld); gemmStore(r2b, p + 2 * ld + w)
        gemmStore(r3a, p + 3 * ld); gemmStore(r3b, p + 3 * ld + w)
        gemmStore(r4a, p + 4 * ld); gemmStore(r4b, p + 4 * ld + w)
        gemmStore(r5a, p + 5 * ld); gemmStore(r5b, p + 5 * ld + w)
        gemmStore(r6a, p + 6 * ld); gemmStore(r6b, p + 6 * ld + w)
        gemmStore(r7a, p + 7 * ld); gemmStore(r7b, p + 7 * ld + w)
    }

    @inline(__always) static var zero: GemmTile { GemmTile(repeating: GemmVector(repeating: 0)) }

    @inline(__always) init(repeating z: GemmVector) {
        (r0a, r0b, r1a, r1b, r2a, r2b, r3a, r3b) = (z, z, z, z, z, z, z, z)
        (r4a, r4b, r5a, r5b, r6a, r6b, r7a, r7b) = (z, z, z, z, z, z, z, z)
    }

    /// Adds one row vector pair (the bias) to every row.
    @inline(__always) mutating func addRow(_ p: UnsafePointer<Float>) {
        let a = gemmLoad(p), b = gemmLoad(p + GemmVector.scalarCount)
        r0a += a; r0b += b; r1a += a; r1b += b; r2a += a; r2b += b; r3a += a; r3b += b
        r4a += a; r4b += b; r5a += a; r5b += b; r6a += a; r6b += b; r7a += a; r7b += b
    }

    /// The hot loop: tile += A[rows, 0 ..< count] @ panel[0 ..< count, :], k in order.
    /// `panel` is packed: `count` rows of `gemmTileColumns` contiguous floats.
    @inline(__always) mutating func multiplyAdd(_ a: GemmRows, count: Int, panel: UnsafePointer<Float>) {
        let w = GemmVector.scalarCount
        var bp = panel
        for k in 0..<count {
            let b0 = gemmLoad(bp), b1 = gemmLoad(bp + w)
            bp += 2 * w
            var x = GemmVector(repeating: a.p0[k]); r0a = gemmFMA(r0a, x, b0); r0b = gemmFMA(r0b, x, b1)
            x = GemmVector(repeating: a.p1[k]); r1a = gemmFMA(r1a, x, b0); r1b = gemmFMA(r1b, x, b1)
            x = GemmVector(repeating: a.p2[k]); r2a = gemmFMA(r2a, x, b0); r2b = gemmFMA(r2b, x, b1)
            x = GemmVector(repeating: a.p3[k]); r3a = gemmFMA(r3a, x, b0); r3b = gemmFMA(r3b, x, b1)
            x = GemmVector(repeating: a.p4[k]); r4a = gemmFMA(r4a, x, b0); r4b = gemmFMA(r4b, x, b1)
            x = GemmVector(repeating: a.p5[k]); r5a = gemmFMA(r5a, x, b0); r5b = gemmFMA(r5b, x, b1)
            x = GemmVector(repeating: a.p6[k]); r6a = gemmFMA(r6a, x, b0); r6b = gemmFMA(r6b, x, b1)
            x = GemmVector(repeating: a.p7[k]); r7a = gemmFMA(r7a, x, b0); r7b = gemmFMA(r7b, x, b1)
        }
    }
}

extension GemmTile {
    /// The hot loop with A packed: tile += A @ panel over `count` k, A as `count` groups of 8 row values.
    @inline(__always) mutating func multiplyAdd(packedA a: UnsafePointer<Float>, count: Int, panel: UnsafePointer<Float>) {
        let w = GemmVector.scalarCount
        var bp = panel, ap = a
        for _ in 0..<count {
            let b0 = gemmLoad(bp), b1 = gemmLoad(bp + w)
            bp += 2 * w
            var x = GemmVector(repeating: ap[0]); r0a = gemmFMA(r0a, x, b0); r0b = gemmFMA(r0b, x, b1)
            x = GemmVector(repeating: ap[1]); r1a = gemmFMA(r1a, x, b0); r1b = gemmFMA(r1b, x, b1)
            x = GemmVector(repeating: ap[2]); r2a = gemmFMA(r2a, x, b0); r2b = gemmFMA(r2b, x, b1)
            x = GemmVector(repeating: ap[3]); r3a = gemmFMA(r3a, x, b0); r3b = gemmFMA(r3b, x, b1)
            x = GemmVector(repeating: ap[4]); r4a = gemmFMA(r4a, x, b0); r4b = gemmFMA(r4b, x, b1)
            x = GemmVector(repeating: ap[5]); r5a = gemmFMA(r5a, x, b0); r5b = gemmFMA(r5b, x, b1)
            x = GemmVector(repeating: ap[6]); r6a = gemmFMA(r6a, x, b0); r6b = gemmFMA(r6b, x, b1)
            x = GemmVector(repeating: ap[7]); r7a = gemmFMA(r7a, x, b0); r7b = gemmFMA(r7b, x, b1)
            ap += gemmTileRows
        }
    }
}

/// Packs A[first ..< first + valid, 0 ..< k] (row stride `lda`) as `k` groups of `gemmTileRows` values,
/// repeating the last valid row in the unused slots. // [k, gemmTileRows]
@inline(__always) func gemmPackATile(_ a: UnsafePointer<Float>, lda: Int, valid: Int, k: Int,
                                     into out: UnsafeMutablePointer<Float>) {
    let mr = gemmTileRows
    for r in 0..<mr {
        let src = a + min(r, valid - 1) * lda
        var dst = out + r
        for kk in 0..<k { dst.pointee = src[kk]; dst += mr }
    }
}

/// Where one register tile's results go: `rows` x `columns` of C starting at `c`, which sit at column
/// offset `offset` inside the tile. Partial tiles go through `edge` (a zeroed tile-sized buffer).
@usableFromInline struct GemmTileTarget {
    var c: UnsafeMutablePointer<Float>
    var ldc: Int
    var rows: Int
    var columns: Int
    var offset: Int
    var edge: UnsafeMutablePointer<Float>

    @inline(__always) var isFull: Bool { rows == gemmTileRows && columns == gemmTileColumns }

    /// The start of every chain: C (plus the bias) when accumulating, else the bias or zero.
    /// `bias` points at the tile's first column (offset included) and is padded by the caller.
    @inline(__always) func start(accumulate: Bool, bias: UnsafePointer<Float>?) -> GemmTile {
        if !accumulate {
            if let bias { return GemmTile(bias, ld: 0) }
            return GemmTile.zero
        }
        var tile = load()
        if let bias { tile.addRow(bias) }
        return tile
    }

    @inline(__always) func edgeZeroed() -> UnsafeMutablePointer<Float> {
        edge.update(repeating: 0, count: gemmTileRows * gemmTileColumns)
        return edge
    }

    @inline(__always) func load() -> GemmTile {
        if isFull { return GemmTile(UnsafePointer(c), ld: ldc) }
        let e = edgeZeroed()
        for r in 0..<rows { (e + r * gemmTileColumns + offset).update(from: c + r * ldc, count: columns) }
        return GemmTile(UnsafePointer(e), ld: gemmTileColumns)
    }

    @inline(__always) func store(_ tile: GemmTile) {
        if isFull { tile.store(c, ld: ldc); return }
        tile.store(edge, ld: gemmTileColumns)
        for r in 0..<rows { (c + r * ldc).update(from: edge + r * gemmTileColumns + offset, count: columns) }
    }
}

/// Packed B size in floats: `ceil(n / gemmTileColumns)` panels of `k x gemmTileColumns`.
public func gemmPackedBCount(k: Int, n: Int) -> Int {
    (n + gemmTileColumns - 1) / gemmTileColumns * k * gemmTileColumns
}

/// Packs B[K, N] (leading dimension `ldb`) into `gemmPackedBCount(k:n:)` floats: panel p holds columns
/// `p * gemmTileColumns ..<` as `k` contiguous rows of `gemmTileColumns` floats, zero padded past `n`.
/// Store weights on disk in this layout to skip the packing at load time.
public func gemmPackB(k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int, into packed: UnsafeMutablePointer<Float>) {
    var p = 0
    var j = 0
    while j < n {
        gemmPackPanel(b + j, ldb: ldb, k: k, columns: min(gemmTileColumns, n - j), into: packed + p * k * gemmTileColumns)
        j += gemmTileColumns
        p += 1
    }
}

/// Packs `k` rows x `columns` (<= gemmTileColumns) of B into one zero-padded panel. // [k, gemmTileColumns]
@inline(__always) func gemmPackPanel(_ b: UnsafePointer<Float>, ldb: Int, k: Int, columns: Int,
                                     into panel: UnsafeMutablePointer<Float>) {
    let nr = gemmTileColumns
    if columns == nr {
        for kk in 0..<k { (panel + kk * nr).update(from: b + kk * ldb, count: nr) }
        return
    }
    for kk in 0..<k {
        (panel + kk * nr).update(from: b + kk * ldb, count: columns)
        (panel + kk * nr + columns).update(repeating: 0, count: nr - columns)
    }
}

/// C[M, N] (+)= A[M, K] @ B[K, N] (+ bias[N]) over all of C.
///
/// - Parameters:
///   - a: `[m, k]`, row stride `lda`.  - b: `[k, n]`, row stride `ldb`.  - c: `[m, n]`, row stride `ldc`.
///   - bias: `[n]`, added to every row, or nil.
///   - accumulate: add to C's contents instead of overwriting them.
public func gemm(m: Int, n: Int, k: Int,
                 a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    gemm(rows: 0..<m, columns: 0..<n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
         bias: bias, accumulate: accumulate)
}

/// The block C[rows, columns] of `gemm`: the entry point for splitting one product across threads.
/// Any split (by rows or columns, any chunk size) gives bit-identical results; chunks that are
/// multiples of `gemmTileRows` / `gemmTileColumns` waste no work. Pointers are to the whole matrices.
public func gemm(rows: Range<Int>, columns: Range<Int>, k: Int,
                 a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    gemmDriver(rows: rows, columns: columns, k: k, a: a, lda: lda, b: b, ldb: ldb, packed: nil,
               c: c, ldc: ldc, bias: bias, accumulate: accumulate)
}

/// `gemm` over the block C[rows, columns] with B already packed by `gemmPackB` (`n` = B's full width).
public func gemmPacked(rows: Range<Int>, columns: Range<Int>, k: Int,
                       a: UnsafePointer<Float>, lda: Int,
                       packedB: UnsafePointer<Float>,
                       c: UnsafeMutablePointer<Float>, ldc: Int,
                       bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    gemmDriver(rows: rows, columns: columns, k: k, a: a, lda: lda, b: packedB, ldb: 0, packed: packedB,
               c: c, ldc: ldc, bias: bias, accumulate: accumulate)
}

/// Row chunk whose packed A block (`gemmRowBlock x gemmKBlock` floats, 512 KiB) stays in L2 across panels.
let gemmRowBlock = 512

/// Loop nest (BLIS order, trimmed): row chunks, K blocks (pack A[chunk, kBlock] once, interleaved by
/// tile so each k reads one cache line for 8 rows and no rows alias in L1), column panels (one packed B
/// block in L1), row tiles. C is reloaded once per K block; whole-K chains with L2-resident panel groups
/// (what `conv2d` does, K = 9 * Cin) measured slower here on 256x3072 @ 3072x768 (125 vs 133 GFLOP/s).
func gemmDriver(rows: Range<Int>, columns: Range<Int>, k: Int,
                a: UnsafePointer<Float>, lda: Int,
                b: UnsafePointer<Float>, ldb: Int, packed: UnsafePointer<Float>?,
                c: UnsafeMutablePointer<Float>, ldc: Int,
                bias: UnsafePointer<Float>?, accumulate: Bool) {
    if rows.isEmpty || columns.isEmpty { return }
    precondition(rows.lowerBound >= 0 && columns.lowerBound >= 0 && k >= 0, "gemm: negative rows, columns or k")
    precondition(lda >= k && ldc >= columns.upperBound && (packed != nil || ldb >= columns.upperBound),
                 "gemm: a leading dimension is smaller than the matrix it strides (lda \(lda) < k \(k), "
                    + "or ldb \(ldb) / ldc \(ldc) < \(columns.upperBound) columns)")
    if k == 0 {
        // No products: every chain is just its start value.
        gemmStartOnly(rows: rows, columns: columns, c: c, ldc: ldc, bias: bias, accumulate: accumulate)
        return
    }
    let nr = gemmTileColumns, mr = gemmTileRows
    let rowBlock = min(gemmRowBlock, (rows.count + mr - 1) / mr * mr)
    // Scratch: packed B block, packed A block, edge tile, padded bias row.
    let count = gemmKBlock * nr + rowBlock * gemmKBlock + mr * nr + nr
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: count)
    defer { scratch.deallocate() }
    let packedA = scratch + gemmKBlock * nr
    let edge = packedA + rowBlock * gemmKBlock
    let biasRow = edge + mr * nr
    // Packed B tiles sit on panel boundaries; B packed here starts tiles at the range's first column.
    let firstTile = packed == nil ? columns.lowerBound : columns.lowerBound / nr * nr
    var i0 = rows.lowerBound
    while i0 < rows.upperBound {
        let i1 = min(i0 + rowBlock, rows.upperBound)
        var k0 = 0
        while k0 < k {
            let kc = min(gemmKBlock, k - k0)
            var i = i0
            while i < i1 {
                gemmPackATile(a + i * lda + k0, lda: lda, valid: min(mr, i1 - i), k: kc,
                              into: packedA + (i - i0) * kc)
                i += mr
            }
            var tile0 = firstTile
            while tile0 < columns.upperBound {
                let lo = max(tile0, columns.lowerBound), hi = min(tile0 + nr, columns.upperBound)
                let panel: UnsafePointer<Float>
                if let packed {
                    panel = packed + (tile0 / nr) * k * nr + k0 * nr
                } else {
                    gemmPackPanel(b + k0 * ldb + tile0, ldb: ldb, k: kc, columns: hi - tile0, into: scratch)
                    panel = UnsafePointer(scratch)
                }
                var tileBias: UnsafePointer<Float>? = nil
                if k0 == 0, let bias {
                    biasRow.update(repeating: 0, count: nr)
                    (biasRow + (lo - tile0)).update(from: bias + lo, count: hi - lo)
                    tileBias = UnsafePointer(biasRow)
                }
                i = i0
                while i < i1 {
                    let target = GemmTileTarget(c: c + i * ldc + lo, ldc: ldc, rows: min(mr, i1 - i),
                                                columns: hi - lo, offset: lo - tile0, edge: edge)
                    var tile = k0 == 0 ? target.start(accumulate: accumulate, bias: tileBias) : target.load()
                    tile.multiplyAdd(packedA: packedA + (i - i0) * kc, count: kc, panel: panel)
                    target.store(tile)
                    i += mr
                }
                tile0 += nr
            }
            k0 += kc
        }
        i0 = i1
    }
}

/// C = start value (K == 0): C (+ bias) when accumulating, else the bias or zero.
func gemmStartOnly(rows: Range<Int>, columns: Range<Int>, c: UnsafeMutablePointer<Float>, ldc: Int,
                   bias: UnsafePointer<Float>?, accumulate: Bool) {
    for i in rows {
        for j in columns {
            c[i * ldc + j] = gemmStartValue(accumulate ? c[i * ldc + j] : 0, bias: bias?[j], accumulate: accumulate)
        }
    }
}

/// A chain's start value; the fast path computes the same thing vector-wide.
@inline(__always) func gemmStartValue(_ c: Float, bias: Float?, accumulate: Bool) -> Float {
    if accumulate { return bias.map { c + $0 } ?? c }
    return bias ?? 0
}

/// Reference twin of `gemm`: a plain triple loop with the same per-element chain (bit-identical).
public func gemmReference(m: Int, n: Int, k: Int,
                          a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int,
                          c: UnsafeMutablePointer<Float>, ldc: Int,
                          bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for i in 0..<m {
        for j in 0..<n {
            var s = gemmStartValue(accumulate ? c[i * ldc + j] : 0, bias: bias?[j], accumulate: accumulate)
            for kk in 0..<k { s = gemmFMA(s, a[i * lda + kk], b[kk * ldb + j]) }
            c[i * ldc + j] = s
        }
    }
}
