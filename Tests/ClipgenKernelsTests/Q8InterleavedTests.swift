// x8 row-interleaved Q8_0 layout: round trip, and interleaved GEMV/GEMM == `gemvQ8_0` on the
// de-interleaved matrix bit for bit, for several shapes, row chunkings, batch sizes and zero blocks.
import ClipgenKernels
import Testing

/// A standard (row-major) Q8_0 matrix of random values; blocks where `zero(row, block)` are all zero.
private func standardMatrix(rows: Int, columns: Int, seed: UInt64,
                            zero: (Int, Int) -> Bool = { _, _ in false }) -> [UInt8] {
    var random = SplitMix64(state: seed)
    var row = [Float](repeating: 0, count: columns)
    let rowBytes = Q8_0.rowBytes(columns: columns)
    var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
    for r in 0..<rows {
        for i in 0..<columns { row[i] = zero(r, i / 32) ? 0 : random.float() * 4 }
        row.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { quantizeRowQ8_0(src.baseAddress!, count: columns, into: $0.baseAddress! + r * rowBytes) }
        }
    }
    return bytes
}

private func interleaved(_ m: [UInt8], rows: Int, columns: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: m.count)
    m.withUnsafeBytes { src in
        out.withUnsafeMutableBytes { interleaveQ8_0Rows(src.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!) }
    }
    return out
}

/// A test activation vector (some zero blocks).
private func activationFloats(_ columns: Int, seed: UInt64) -> [Float] {
    var random = SplitMix64(state: seed)
    return (0..<columns).map { i -> Float in (i / 32) % 5 == 3 ? 0 : random.float() * 2 }
}

private func activations(_ columns: Int, seed: UInt64) -> (values: [Int16], scales: [Float]) {
    let x = activationFloats(columns, seed: seed)
    var values = [Int16](repeating: 0, count: columns), scales = [Float](repeating: 0, count: columns / 32)
    x.withUnsafeBufferPointer { quantizeActivationsQ8_0($0.baseAddress!, count: columns, values: &values, scales: &scales) }
    return (values, scales)
}

/// `gemvQ8_0` (standard layout) or `gemvQ8_0Interleaved` (x8 layout), in chunks of `chunk` rows.
private func gemv(_ m: [UInt8], interleaved: Bool, rows: Int, columns: Int, _ x: (values: [Int16], scales: [Float]),
                  chunk: Int? = nil) -> [UInt32] {
    var y = [Float](repeating: .nan, count: rows)
    m.withUnsafeBytes { w in
        y.withUnsafeMutableBufferPointer { out in
            var start = 0
            while start < rows {
                let end = Swift.min(rows, start + (chunk ?? rows))
                if interleaved {
                    gemvQ8_0Interleaved(weights: w.baseAddress!, columns: columns, rows: start..<end,
                                        activations: x.values, scales: x.scales, output: out.baseAddress!)
                } else {
                    gemvQ8_0(weights: w.baseAddress!, columns: columns, rows: start..<end,
                             activations: x.values, scales: x.scales, output: out.baseAddress!)
                }
                start = end
            }
        }
    }
    return y.map(\.bitPattern)
}

@Suite struct Q8InterleavedTests {
    /// Interleave then de-interleave gives the original bytes; the x8 offsets are as documented.
    @Test func roundTripAndOffsets() {
        for (rows, columns) in [(8, 32), (16, 96), (40, 4096)] {
            let m = standardMatrix(rows: rows, columns: columns, seed: UInt64(rows + columns))
            let x8 = interleaved(m, rows: rows, columns: columns)
            var back = [UInt8](repeating: 0x55, count: m.count)
            x8.withUnsafeBytes { src in
                back.withUnsafeMutableBytes { deinterleaveQ8_0Rows(src.baseAddress!, rows: rows, columns: columns, into: $0.baseAddress!) }
            }
            #expect(back == m, "rows \(rows) columns \(columns)")
            let blocks = columns / 32
            let row = rows - 3, b = blocks - 1
            let standard = (row * blocks + b) * 34, moved = (((row / 8) * blocks + b) * 8 + row % 8) * 34
            #expect(Array(x8[moved..<(moved + 34)]) == Array(m[standard..<(standard + 34)]))
        }
    }

    /// Interleaved GEMV == `gemvQ8_0` on the standard matrix, bit for bit.
    @Test(arguments: [8, 32, 40, 1024])
    func gemvMatchesStandardBitForBit(rows: Int) {
        for columns in [32, 64, 4096] {
            let m = standardMatrix(rows: rows, columns: columns, seed: UInt64(rows * 3 + columns))
            let x8 = interleaved(m, rows: rows, columns: columns)
            let x = activations(columns, seed: UInt64(columns))
            let fast = gemv(x8, interleaved: true, rows: rows, columns: columns, x)
            #expect(fast == gemv(m, interleaved: false, rows: rows, columns: columns, x), "rows \(rows) columns \(columns)")
            // And == the scalar reference twin of `gemvQ8_0` (on the standard layout).
            var reference = [Float](repeating: .nan, count: rows)
            let input = activationFloats(columns, seed: UInt64(columns))
            m.withUnsafeBytes { w in
                gemvQ8_0Reference(weights: w.baseAddress!, columns: columns, rows: 0..<rows, input: input,
                                  output: &reference)
            }
            #expect(fast == reference.map(\.bitPattern), "reference, rows \(rows) columns \(columns)")
        }
    }

    /// The result does not depend on how the (multiple-of-8) row range is chunked.
    @Test func resultIndependentOfRowChunking() {
        let rows = 200, columns = 1024
        let m = standardMatrix(rows: rows, columns: columns, seed: 7)
        let x8 = interleaved(m, rows: rows, columns: columns)
        let x = activations(columns, seed: 8)
        let whole = gemv(m, interleaved: false, rows: rows, columns: columns, x)
        for chunk in [8, 16, 24, 32, 40, 64, 136] {
            #expect(gemv(x8, interleaved: true, rows: rows, columns: columns, x, chunk: chunk) == whole, "chunk \(chunk)")
        }
    }

    /// All-zero blocks (and whole zero rows, which give exactly +0).
    @Test func zeroBlocks() {
        let rows = 48, columns = 256
        let m = standardMatrix(rows: rows, columns: columns, seed: 3) { r, b in r % 5 == 0 || (r + b) % 3 == 0 }
        let x8 = interleaved(m, rows: rows, columns: columns)
        let x = activations(columns, seed: 4)
        let y = gemv(x8, interleaved: true, rows: rows, columns: columns, x)
        #expect(y == gemv(m, interleaved: false, rows: rows, columns: columns, x))
        for r in stride(from: 0, to: rows, by: 5) { #expect(y[r] == 0) }
    }

    /// The batch kernel equals one interleaved GEMV per activation, for batch sizes 1...8.
    @Test func batchMatchesPerVectorGemv() {
        for (rows, columns) in [(40, 4096), (8, 64), (16, 32)] {
            let m = standardMatrix(rows: rows, columns: columns, seed: UInt64(rows))
            let x8 = interleaved(m, rows: rows, columns: columns)
            for batch in 1...8 {
                let xs = (0..<batch).map { activations(columns, seed: UInt64(100 + $0)) }
                let values = xs.flatMap(\.values), scales = xs.flatMap(\.scales)
                let stride = rows + 3
                var y = [Float](repeating: .nan, count: batch * stride)
                x8.withUnsafeBytes { w in
                    y.withUnsafeMutableBufferPointer {
                        gemmQ8_0Interleaved(weights: w.baseAddress!, columns: columns, rows: 0..<rows, batch: batch,
                                            activations: values, scales: scales, output: $0.baseAddress!,
                                            outputStride: stride)
                    }
                }
                for j in 0..<batch {
                    let expected = gemv(m, interleaved: false, rows: rows, columns: columns, xs[j])
                    #expect(Array(y[(j * stride)..<(j * stride + rows)]).map(\.bitPattern) == expected,
                            "rows \(rows) batch \(batch) j \(j)")
                }
            }
        }
    }
}
