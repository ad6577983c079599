// A lookup table of rows (token embeddings, a VQGAN codebook) read from the mapping in any stored type.

import ClipgenFile
import ClipgenKernels

/// `count` rows of `width` values, stored as Q8_0, F16 or F32; rows are dequantised on lookup.
public struct Embedding {
    /// Number of rows (vocabulary or codebook size).
    public let count: Int
    /// Values per row.
    public let width: Int
    private let table: GGUFTensor                           // ggml [width, count]

    /// Loads `<name>` with ggml shape [width, count].
    public init(_ reader: ComponentReader, _ name: String, count: Int, width: Int) throws {
        self.count = count
        self.width = width
        table = try reader.tensor(name, shape: [width, count], types: [.q8_0, .f16, .f32])
    }

    /// Writes row `index` (0..<count, checked by the caller) to `destination[0..<width]`.
    public func copyRow(_ index: Int, into destination: UnsafeMutablePointer<Float>) {
        let row = table.rowPointer(index)
        switch table.type {
        case .q8_0: dequantizeRowQ8_0(row, count: width, into: destination)
        case .f32: destination.update(from: row.assumingMemoryBound(to: Float.self), count: width)
        case .f16:
            let bits = row.assumingMemoryBound(to: UInt16.self)
            for i in 0..<width { destination[i] = floatFromHalfBits(bits[i]) }
        }
    }
}
