// aarch64 checks of Q8GEMV.swift: `gemvQ8_0` against `gemvQ8_0Reference` bit for bit (both follow the file's fixed
// accumulation order) over odd row counts that exercise the 32-row groups, row pairs and the single-row tail, over
// 1, 31, 33 blocks and the constant-stride widths, with an all-zero weight block; any row split gives the same bits;
// `gemmQ8_0` on a batch equals `gemvQ8_0` on each vector.
import ClipgenKernels

/// A Q8_0 weight matrix [rows, columns] quantised by the reference quantiser (one all-zero block in row 0).
private func q8Matrix(rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var random = SplitMix(seed: seed)
    var w = random.floats(rows * columns)                                    // [rows, columns]
    for j in 0..<32 { w[j] = 0 }
    var q = [UInt8](repeating: 0, count: rows * Q8_0.rowBytes(columns: columns))
    w.withUnsafeBufferPointer { pw in
        q.withUnsafeMutableBytes { quantizeRowQ8_0Reference(pw.baseAddress!, count: rows * columns, into: $0.baseAddress!) }
    }
    return q
}

/// Activations in the kernels' split layout: ([batch * columns] Int16, [batch * columns / 32] scales).
private func q8Activations(_ x: [Float], batch: Int, columns: Int) -> ([Int16], [Float]) {
    var values = [Int16](repeating: 0, count: batch * columns)
    var scales = [Float](repeating: 0, count: batch * columns / 32)
    x.withUnsafeBufferPointer { px in
        values.withUnsafeMutableBufferPointer { pv in
            scales.withUnsafeMutableBufferPointer { ps in
                for j in 0..<batch {
                    quantizeActivationsQ8_0(px.baseAddress! + j * columns, count: columns,
                                            values: pv.baseAddress! + j * columns,
                                            scales: ps.baseAddress! + j * columns / 32)
                }
            }
        }
    }
    return (values, scales)
}

private func gemvFast(_ w: [UInt8], columns: Int, rowSplits: [Range<Int>], _ a: ([Int16], [Float]),
                      rows: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: rows)
    w.withUnsafeBytes { pw in
        a.0.withUnsafeBufferPointer { pv in
            a.1.withUnsafeBufferPointer { ps in
                out.withUnsafeMutableBufferPointer { po in
                    for r in rowSplits {
                        gemvQ8_0(weights: pw.baseAddress!, columns: columns, rows: r, activations: pv.baseAddress!,
                                 scales: ps.baseAddress!, output: po.baseAddress!)
                    }
                }
            }
        }
    }
    return out
}

func q8GEMVChecks() {
    var seed: UInt64 = 1000
    for (rows, columns) in [(67, 32), (67, 992), (33, 1056), (1, 32), (70, 512), (35, 768), (31, 4096)] {
        seed += 1
        let w = q8Matrix(rows: rows, columns: columns, seed: seed)
        var random = SplitMix(seed: seed + 500)
        for zeroInput in [false, true] {
            let x = zeroInput ? [Float](repeating: 0, count: columns) : random.floats(columns, -2, 2)
            let a = q8Activations(x, batch: 1, columns: columns)
            var want = [Float](repeating: .nan, count: rows)
            w.withUnsafeBytes { pw in
                x.withUnsafeBufferPointer { px in
                    want.withUnsafeMutableBufferPointer {
                        gemvQ8_0Reference(weights: pw.baseAddress!, columns: columns, rows: 0..<rows,
                                          input: px.baseAddress!, output: $0.baseAddress!)
                    }
                }
            }
            let whole = gemvFast(w, columns: columns, rowSplits: [0..<rows], a, rows: rows)
            let cut = min(rows, 3)
            let split = gemvFast(w, columns: columns, rowSplits: [cut..<rows, 0..<cut], a, rows: rows)
            let name = "gemvQ8_0 \(rows)x\(columns)" + (zeroInput ? " zero input" : "")
            check(name + " vs gemvQ8_0Reference", bitMismatches(whole, want) == 0, bitsDetail(whole, want))
            check(name + " rows split at \(cut) vs whole", bitMismatches(split, whole) == 0, bitsDetail(split, whole))
        }
    }

    // A batch through gemmQ8_0 equals one gemvQ8_0 per vector.
    for batch in [1, 3, 5] {
        let rows = 45, columns = 544
        let w = q8Matrix(rows: rows, columns: columns, seed: 2000 + UInt64(batch))
        var random = SplitMix(seed: 3000 + UInt64(batch))
        let x = random.floats(batch * columns)
        let a = q8Activations(x, batch: batch, columns: columns)
        var batched = [Float](repeating: .nan, count: batch * rows)
        w.withUnsafeBytes { pw in
            a.0.withUnsafeBufferPointer { pv in
                a.1.withUnsafeBufferPointer { ps in
                    batched.withUnsafeMutableBufferPointer {
                        gemmQ8_0(weights: pw.baseAddress!, columns: columns, rows: 0..<rows, batch: batch,
                                 activations: pv.baseAddress!, scales: ps.baseAddress!, output: $0.baseAddress!,
                                 outputStride: rows)
                    }
                }
            }
        }
        var single = [Float]()
        for j in 0..<batch {
            let one = (Array(a.0[j * columns..<(j + 1) * columns]), Array(a.1[j * columns / 32..<(j + 1) * columns / 32]))
            single += gemvFast(w, columns: columns, rowSplits: [0..<rows], one, rows: rows)
        }
        check("gemmQ8_0 batch \(batch), \(rows)x\(columns) vs gemvQ8_0 per vector", bitMismatches(batched, single) == 0,
              bitsDetail(batched, single))
    }

    let rows = 256, columns = 1024
    let w = q8Matrix(rows: rows, columns: columns, seed: 4000)
    var random = SplitMix(seed: 4001)
    let x = random.floats(columns)
    let a = q8Activations(x, batch: 1, columns: columns)
    var out = [Float](repeating: 0, count: rows)
    w.withUnsafeBytes { pw in
        x.withUnsafeBufferPointer { px in
            a.0.withUnsafeBufferPointer { pv in
                a.1.withUnsafeBufferPointer { ps in
                    out.withUnsafeMutableBufferPointer { po in
                        let (wp, xp, vp, sp, op) = (pw.baseAddress!, px.baseAddress!, pv.baseAddress!, ps.baseAddress!,
                                                    po.baseAddress!)
                        timeLine("gemvQ8_0 \(rows)x\(columns)",
                                 fast: { gemvQ8_0(weights: wp, columns: columns, rows: 0..<rows, activations: vp,
                                                  scales: sp, output: op) },
                                 reference: { gemvQ8_0Reference(weights: wp, columns: columns, rows: 0..<rows,
                                                                input: xp, output: op) })
                    }
                }
            }
        }
    }
}
