// A zero-copy view of one tensor's data inside the mapped model file.

/// A tensor's data in the mapped file: pointer, byte count, shape and element type.
///
/// The view keeps the mapping alive, so it stays valid after the `GGUFFile` is released.
/// Rows follow ggml order: a row is `shape[0]` contiguous elements (for Q8_0, `shape[0] / 32`
/// blocks of 34 bytes), and there are `elementCount / shape[0]` rows.
public struct GGUFTensor: @unchecked Sendable, CustomStringConvertible {
    /// The tensor's name in the file.
    public let name: String
    /// Element type.
    public let type: GGMLType
    /// Dimensions, `shape[0]` fastest.
    public let shape: GGUFShape
    /// First byte of the data (aligned to at least `type.requiredAlignment`).
    public let baseAddress: UnsafeRawPointer
    /// Size of the data in bytes.
    public let byteCount: Int
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    let region: MappedRegion

    init(_ entry: TensorEntry, name: String, region: MappedRegion) {
        self.name = name
        type = entry.type
        shape = entry.shape
        baseAddress = region.base + entry.fileOffset
        byteCount = entry.byteCount
        fileOffset = entry.fileOffset
        self.region = region
    }

    /// The raw bytes.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: byteCount) }
    /// Number of elements.
    public var elementCount: Int { shape.elementCount }
    /// Elements per row (`shape[0]`).
    public var rowLength: Int { shape[0] }
    /// Number of rows (product of `shape[1...]`).
    public var rowCount: Int { elementCount / rowLength }
    /// Bytes per row.
    public var rowByteCount: Int { rowLength / type.blockSize * type.blockBytes }

    /// The first byte of row `row`.
    public func rowPointer(_ row: Int) -> UnsafeRawPointer {
        precondition(row >= 0 && row < rowCount, "row \(row) out of range for tensor '\(name)' \(shape)")
        return baseAddress + row * rowByteCount
    }

    /// All elements of an F32 tensor.
    public var f32: UnsafeBufferPointer<Float> {
        precondition(type == .f32, "tensor '\(name)' is \(type), not F32")
        return UnsafeBufferPointer(start: baseAddress.bindMemory(to: Float.self, capacity: elementCount),
                                   count: elementCount)
    }

    /// Row `row` of an F32 tensor.
    public func f32Row(_ row: Int) -> UnsafeBufferPointer<Float> {
        precondition(type == .f32, "tensor '\(name)' is \(type), not F32")
        return UnsafeBufferPointer(start: rowPointer(row).bindMemory(to: Float.self, capacity: rowLength),
                                   count: rowLength)
    }

    /// All elements of an F16 tensor, as IEEE binary16 bit patterns.
    public var f16Bits: UnsafeBufferPointer<UInt16> {
        precondition(type == .f16, "tensor '\(name)' is \(type), not F16")
        return UnsafeBufferPointer(start: baseAddress.bindMemory(to: UInt16.self, capacity: elementCount),
                                   count: elementCount)
    }

    /// Row `row` of an F16 tensor, as IEEE binary16 bit patterns.
    public func f16Row(_ row: Int) -> UnsafeBufferPointer<UInt16> {
        precondition(type == .f16, "tensor '\(name)' is \(type), not F16")
        return UnsafeBufferPointer(start: rowPointer(row).bindMemory(to: UInt16.self, capacity: rowLength),
                                   count: rowLength)
    }

    /// Q8_0 blocks in one row (`shape[0] / 32`).
    public var q8_0BlocksPerRow: Int {
        precondition(type == .q8_0, "tensor '\(name)' is \(type), not Q8_0")
        return rowLength / GGMLType.q8_0.blockSize
    }

    /// Row `row` of a Q8_0 tensor: `q8_0BlocksPerRow` blocks of [fp16 d, 32 x int8 q].
    public func q8_0Row(_ row: Int) -> UnsafeRawBufferPointer {
        precondition(type == .q8_0, "tensor '\(name)' is \(type), not Q8_0")
        return UnsafeRawBufferPointer(start: rowPointer(row), count: rowByteCount)
    }

    public var description: String { "\(name) \(type) \(shape) at \(fileOffset) (\(byteCount) bytes)" }
}
