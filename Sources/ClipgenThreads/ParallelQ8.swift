// Q8_0 matrix-vector (and matrix x small batch) products spread over the pool.

import ClipgenKernels

/// Activation vectors quantised to Q8_0 blocks in the layout the Q8_0 kernels read.
///
/// Quantising once per product and sharing the result across threads is what ggml does too; the kernels then
/// do int8 x int8 -> int32 per block and one float multiply-add per block.
public final class Q8Activations {
    /// Values per vector (a multiple of 32).
    public let columns: Int
    /// Vectors held.
    public let batch: Int
    /// Quantised values as the kernels read them.  // [batch, columns]
    public let values: UnsafeMutablePointer<Int16>
    /// One scale per block of 32 values.  // [batch, columns / 32]
    public let scales: UnsafeMutablePointer<Float>

    /// Allocates room for `batch` vectors of `columns` values (a positive multiple of 32).
    public init(columns: Int, batch: Int = 1) {
        precondition(columns > 0 && columns % Q8_0.blockValues == 0,
                     "Q8Activations: columns must be a positive multiple of 32, got \(columns)")
        precondition(batch >= 1, "Q8Activations: batch must be at least 1, got \(batch)")
        self.columns = columns
        self.batch = batch
        values = .allocate(capacity: batch * columns)
        values.initialize(repeating: 0, count: batch * columns)
        scales = .allocate(capacity: batch * columns / Q8_0.blockValues)
        scales.initialize(repeating: 0, count: batch * columns / Q8_0.blockValues)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }

    /// Quantises `source` (`columns` floats) into vector `index`.
    public func quantize(_ source: UnsafePointer<Float>, index: Int = 0) {
        precondition(index >= 0 && index < batch, "Q8Activations: vector \(index) out of 0..<\(batch)")
        quantizeActivationsQ8_0(source, count: columns, values: values + index * columns,
                                scales: scales + index * columns / Q8_0.blockValues)
    }
}

/// How the rows of a Q8_0 matrix lie in the file (docs/FORMAT.md).
public enum Q8_0Layout: String, Sendable, CaseIterable {
    /// ggml's layout: row after row, each a run of 34-byte blocks.
    case rows
    /// The same blocks reordered so that block b of 8 consecutive rows lie together (rows % 8 == 0).
    case rowGroupsOf8 = "x8"
}

extension ThreadPool {
    /// Output rows per task: a multiple of the kernel's 32-row pass. Small enough that 2-4 threads balance on a
    /// 512-row matrix; 32, 64 and 256 measured the same on 4096x4096 and 1024x4096 at 2 threads, 2048 (one slab
    /// per thread) measured worse.
    public static let q8RowChunk = 64

    /// y[rows] = W[rows, columns] x, with W in Q8_0 blocks (row-major, rows contiguous, read in place).
    ///
    /// Rows are cut into fixed chunks of `q8RowChunk` and each row is reduced by one task in the kernel's fixed
    /// order, so the result is bit-identical at any thread count.
    /// - Parameters:
    ///   - weights: `rows * columns / 32` blocks of 34 bytes.  // [rows, columns] Q8_0
    ///   - activations: vector 0 of it is x.  // [columns]
    ///   - output: `rows` floats.  // [rows]
    public func q8MatVec(weights: UnsafeRawPointer, rows: Int, columns: Int, layout: Q8_0Layout = .rows,
                         activations: Q8Activations, into output: UnsafeMutablePointer<Float>) {
        precondition(activations.columns == columns,
                     "q8MatVec: activations hold \(activations.columns) columns, the matrix has \(columns)")
        let chunk = ThreadPool.q8RowChunk
        parallelFor((rows + chunk - 1) / chunk) { task in
            let range = task * chunk ..< min(rows, task * chunk + chunk)
            switch layout {
            case .rows:
                gemvQ8_0(weights: weights, columns: columns, rows: range,
                         activations: activations.values, scales: activations.scales, output: output)
            case .rowGroupsOf8:
                gemvQ8_0Interleaved(weights: weights, columns: columns, rows: range,
                                    activations: activations.values, scales: activations.scales, output: output)
            }
        }
    }

    /// Y[j, rows] = W[rows, columns] X[j] for every vector j of `activations`: each weight block read from
    /// memory serves the whole batch (several candidate sequences sampled together).
    /// - Parameters:
    ///   - output: `activations.batch` vectors of `rows` floats.  // [batch, rows]
    public func q8MatMul(weights: UnsafeRawPointer, rows: Int, columns: Int, layout: Q8_0Layout = .rows,
                         activations: Q8Activations, into output: UnsafeMutablePointer<Float>) {
        precondition(activations.columns == columns,
                     "q8MatMul: activations hold \(activations.columns) columns, the matrix has \(columns)")
        let chunk = ThreadPool.q8RowChunk
        parallelFor((rows + chunk - 1) / chunk) { task in
            let range = task * chunk ..< min(rows, task * chunk + chunk)
            switch layout {
            case .rows:
                gemmQ8_0(weights: weights, columns: columns, rows: range, batch: activations.batch,
                         activations: activations.values, scales: activations.scales,
                         output: output, outputStride: rows)
            case .rowGroupsOf8:
                gemmQ8_0Interleaved(weights: weights, columns: columns, rows: range, batch: activations.batch,
                                    activations: activations.values, scales: activations.scales,
                                    output: output, outputStride: rows)
            }
        }
    }
}
