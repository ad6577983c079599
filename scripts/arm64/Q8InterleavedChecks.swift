// aarch64 checks of Q8Interleaved.swift: the x8 layout round-trips, and `gemvQ8_0Interleaved` /
// `gemmQ8_0Interleaved` on it give the same bits as `gemvQ8_0Reference` on the plain matrix, for any row split.
import ClipgenKernels

func q8InterleavedChecks() {
    var seed: UInt64 = 7000
    for (rows, columns) in [(8, 32), (40, 96), (64, 512), (24, 4096)] {
        seed += 1
        var random = SplitMix(seed: seed)
        let w = random.floats(rows * columns)                                   // [rows, columns]
        var plain = [UInt8](repeating: 0, count: rows * Q8_0.rowBytes(columns: columns))
        w.withUnsafeBufferPointer { pw in
            plain.withUnsafeMutableBytes {
                quantizeRowQ8_0Reference(pw.baseAddress!, count: rows * columns, into: $0.baseAddress!)
            }
        }
        var x8 = [UInt8](repeating: 0, count: plain.count)
        var back = [UInt8](repeating: 0, count: plain.count)
        plain.withUnsafeBytes { p in x8.withUnsafeMutableBytes {
            interleaveQ8_0Rows(p.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!)
        } }
        x8.withUnsafeBytes { p in back.withUnsafeMutableBytes {
            deinterleaveQ8_0Rows(p.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!)
        } }
        check("x8 layout \(rows)x\(columns) round trip", back == plain, "byte-exact")

        let batch = 3
        let x = random.floats(batch * columns, -2, 2)                           // [batch, columns]
        var values = [Int16](repeating: 0, count: batch * columns)
        var scales = [Float](repeating: 0, count: batch * columns / 32)
        var want = [Float](repeating: .nan, count: batch * rows)                // [batch, rows]
        x.withUnsafeBufferPointer { px in
            for j in 0..<batch {
                values.withUnsafeMutableBufferPointer { pv in scales.withUnsafeMutableBufferPointer { ps in
                    quantizeActivationsQ8_0(px.baseAddress! + j * columns, count: columns,
                                            values: pv.baseAddress! + j * columns, scales: ps.baseAddress! + j * columns / 32)
                } }
                plain.withUnsafeBytes { pw in want.withUnsafeMutableBufferPointer {
                    gemvQ8_0Reference(weights: pw.baseAddress!, columns: columns, rows: 0..<rows,
                                      input: px.baseAddress! + j * columns, output: $0.baseAddress! + j * rows)
                } }
            }
        }
        var single = [Float](repeating: .nan, count: rows)
        var batched = [Float](repeating: .nan, count: batch * rows)
        x8.withUnsafeBytes { pw in values.withUnsafeBufferPointer { pv in scales.withUnsafeBufferPointer { ps in
            single.withUnsafeMutableBufferPointer { po in
                for r in [8..<rows, 0..<8] where !r.isEmpty {
                    gemvQ8_0Interleaved(weights: pw.baseAddress!, columns: columns, rows: r,
                                        activations: pv.baseAddress!, scales: ps.baseAddress!, output: po.baseAddress!)
                }
            }
            batched.withUnsafeMutableBufferPointer { po in
                gemmQ8_0Interleaved(weights: pw.baseAddress!, columns: columns, rows: 0..<rows, batch: batch,
                                    activations: pv.baseAddress!, scales: ps.baseAddress!,
                                    output: po.baseAddress!, outputStride: rows)
            }
        } } }
        let want0 = Array(want[0..<rows])
        check("gemvQ8_0Interleaved \(rows)x\(columns) split vs reference", bitMismatches(single, want0) == 0,
              bitsDetail(single, want0))
        check("gemmQ8_0Interleaved batch \(batch), \(rows)x\(columns) vs reference", bitMismatches(batched, want) == 0,
              bitsDetail(batched, want))
    }
}
