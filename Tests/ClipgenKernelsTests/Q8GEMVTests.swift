// Fast Q8_0 GEMV / batch GEMM against the scalar reference twin: bit-identical by construction
// (same accumulation order, see Q8GEMV.swift), for odd sizes, zero blocks, saturated blocks,
// every batch size 1...8 and any row chunking.
import ClipgenKernels
import Testing

/// What a test block holds.
private enum BlockKind { case random, zero, saturated, tiny }

/// A Q8_0 matrix built by quantising generated floats with the reference quantiser.
private struct Q8Matrix {
    let rows: Int, columns: Int
    var bytes: [UInt8]

    init(rows: Int, columns: Int, seed: UInt64, kind: (Int, Int) -> BlockKind = { _, _ in .random }) {
        self.rows = rows
        self.columns = columns
        var random = SplitMix64(state: seed)
        var row = [Float](repeating: 0, count: columns)
        bytes = [UInt8](repeating: 0, count: rows * Q8_0.rowBytes(columns: columns))
        for r in 0..<rows {
            for b in 0..<(columns / 32) {
                for j in 0..<32 {
                    switch kind(r, b) {
                    case .random: row[32 * b + j] = random.float() * 4
                    case .zero: row[32 * b + j] = 0
                    case .saturated: row[32 * b + j] = (j + r) % 2 == 0 ? 127 : -127  // q = +-127, d = 1
                    case .tiny: row[32 * b + j] = random.float() * 1e-6              // binary16-subnormal d
                    }
                }
            }
            let offset = r * Q8_0.rowBytes(columns: columns)
            row.withUnsafeBufferPointer { src in
                bytes.withUnsafeMutableBytes {
                    quantizeRowQ8_0Reference(src.baseAddress!, count: columns, into: $0.baseAddress! + offset)
                }
            }
        }
    }
}

/// Activation vectors: random, with some zero and some saturating (all +-127 codes) blocks.
private func activationVector(_ columns: Int, seed: UInt64) -> [Float] {
    var random = SplitMix64(state: seed)
    return (0..<columns).map { i in
        switch (i / 32) % 5 {
        case 3: return 0
        case 4: return i % 3 == 0 ? -50 : 50
        default: return random.float() * 2
        }
    }
}

/// The activation layout of `x` for the fast kernels.
private func quantised(_ x: [Float]) -> (values: [Int16], scales: [Float]) {
    var values = [Int16](repeating: 0, count: x.count), scales = [Float](repeating: 0, count: x.count / 32)
    x.withUnsafeBufferPointer { quantizeActivationsQ8_0($0.baseAddress!, count: x.count, values: &values, scales: &scales) }
    return (values, scales)
}

/// Fast GEMV over `rows`, computed in the given chunks (each chunk a separate call, as threads would).
private func fastGemv(_ m: Q8Matrix, _ x: [Float], chunk: Int? = nil) -> [Float] {
    let (values, scales) = quantised(x)
    var y = [Float](repeating: .nan, count: m.rows)
    let step = chunk ?? m.rows
    m.bytes.withUnsafeBytes { w in
        y.withUnsafeMutableBufferPointer { out in
            var start = 0
            while start < m.rows {
                let end = Swift.min(m.rows, start + step)
                gemvQ8_0(weights: w.baseAddress!, columns: m.columns, rows: start..<end, activations: values,
                         scales: scales, output: out.baseAddress!)
                start = end
            }
        }
    }
    return y
}

private func referenceGemv(_ m: Q8Matrix, _ x: [Float]) -> [Float] {
    var y = [Float](repeating: .nan, count: m.rows)
    m.bytes.withUnsafeBytes { w in
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer {
                gemvQ8_0Reference(weights: w.baseAddress!, columns: m.columns, rows: 0..<m.rows,
                                  input: input.baseAddress!, output: $0.baseAddress!)
            }
        }
    }
    return y
}

private func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

@Suite struct Q8GEMVTests {
    /// Fast == reference, bit for bit, over odd row counts and several widths.
    @Test(arguments: [1, 31, 33, 1023])
    func fastMatchesReferenceBitForBit(rows: Int) {
        for columns in [32, 64, 4096] where rows * columns <= 1023 * 4096 {
            let m = Q8Matrix(rows: rows, columns: columns, seed: UInt64(rows * 7 + columns))
            let x = activationVector(columns, seed: UInt64(columns))
            #expect(bits(fastGemv(m, x)) == bits(referenceGemv(m, x)), "rows \(rows) columns \(columns)")
        }
    }

    /// Widths outside the specialised list (run-time row stride) and odd block counts.
    @Test func unlistedWidthsMatchReference() {
        for columns in [96, 480, 4064] {
            let m = Q8Matrix(rows: 67, columns: columns, seed: UInt64(columns))
            let x = activationVector(columns, seed: 9)
            #expect(bits(fastGemv(m, x)) == bits(referenceGemv(m, x)), "columns \(columns)")
        }
    }

    /// All-zero weight blocks, +-127 saturated blocks and binary16-subnormal scales.
    @Test func zeroSaturatedAndTinyBlocks() {
        let m = Q8Matrix(rows: 70, columns: 1024, seed: 5) { r, b in
            switch (r + b) % 4 {
            case 0: return .zero
            case 1: return .saturated
            case 2: return .tiny
            default: return .random
            }
        }
        let x = activationVector(1024, seed: 6)
        let fast = fastGemv(m, x)
        #expect(bits(fast) == bits(referenceGemv(m, x)))
        // A row of only zero blocks gives exactly +0.
        let zeros = Q8Matrix(rows: 3, columns: 64, seed: 1) { _, _ in .zero }
        #expect(bits(fastGemv(zeros, x.prefix(64).map { $0 })) == [0, 0, 0])
        // Saturated weights times saturated activations: 32 * 127 * 127 per block, exact in Float.
        let full = Q8Matrix(rows: 2, columns: 32, seed: 1) { _, _ in .saturated }
        let y = fastGemv(full, (0..<32).map { j in j % 2 == 0 ? 127 : -127 })
        #expect(y[0] == 32 * 127 * 127 && y[1] == -32 * 127 * 127)
    }

    /// The result does not depend on how the row range is chunked (i.e. on the thread count).
    @Test func resultIndependentOfRowChunking() {
        let m = Q8Matrix(rows: 203, columns: 1024, seed: 11)
        let x = activationVector(1024, seed: 12)
        let whole = bits(fastGemv(m, x))
        for chunk in [1, 2, 3, 7, 31, 32, 33, 64, 100] {
            #expect(bits(fastGemv(m, x, chunk: chunk)) == whole, "chunk \(chunk)")
        }
    }

    /// The batch kernel equals one GEMV per activation, for every batch size 1...8 and ragged row counts.
    @Test func batchMatchesPerVectorGemv() {
        for (rows, columns) in [(37, 4096), (8, 64), (3, 32)] {
            let m = Q8Matrix(rows: rows, columns: columns, seed: UInt64(rows))
            for batch in 1...8 {
                let xs = (0..<batch).map { activationVector(columns, seed: UInt64(100 + $0)) }
                var values: [Int16] = [], scales: [Float] = []
                for x in xs { let q = quantised(x); values += q.values; scales += q.scales }
                let stride = rows + 3
                var y = [Float](repeating: .nan, count: batch * stride)
                m.bytes.withUnsafeBytes { w in
                    y.withUnsafeMutableBufferPointer {
                        gemmQ8_0(weights: w.baseAddress!, columns: columns, rows: 0..<rows, batch: batch,
                                 activations: values, scales: scales, output: $0.baseAddress!, outputStride: stride)
                    }
                }
                for j in 0..<batch {
                    let expected = bits(referenceGemv(m, xs[j]))
                    #expect(bits(Array(y[(j * stride)..<(j * stride + rows)])) == expected, "rows \(rows) batch \(batch) j \(j)")
                }
            }
        }
    }

    /// Sanity against a Float64 dot of the dequantised values (the only tolerance here).
    @Test func closeToFloat64DotOfDequantisedValues() {
        let columns = 4096
        let m = Q8Matrix(rows: 9, columns: columns, seed: 21)
        let x = activationVector(columns, seed: 22)
        let y = fastGemv(m, x)
        var xq = [Float](repeating: 0, count: columns), w = [Float](repeating: 0, count: columns)
        var xBytes = [UInt8](repeating: 0, count: Q8_0.rowBytes(columns: columns))
        x.withUnsafeBufferPointer { src in
            xBytes.withUnsafeMutableBytes { quantizeRowQ8_0Reference(src.baseAddress!, count: columns, into: $0.baseAddress!) }
        }
        xBytes.withUnsafeBytes { dequantizeRowQ8_0($0.baseAddress!, count: columns, into: &xq) }
        for r in 0..<m.rows {
            m.bytes.withUnsafeBytes {
                dequantizeRowQ8_0($0.baseAddress! + r * Q8_0.rowBytes(columns: columns), count: columns, into: &w)
            }
            var exact = 0.0, magnitude = 0.0
            for i in 0..<columns { exact += Double(w[i]) * Double(xq[i]); magnitude += abs(Double(w[i]) * Double(xq[i])) }
            let bound = Double(f32DotProductErrorPerTerm) * Double(columns) * magnitude
            #expect(abs(Double(y[r]) - exact) <= bound, "row \(r): \(y[r]) vs \(exact)")
        }
    }
}
