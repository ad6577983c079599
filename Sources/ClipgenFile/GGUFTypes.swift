// The vocabulary of a GGUF v3 file: format constants, metadata value types, tensor element
// types and tensor shapes. Reference for the layout: ggml docs/gguf.md; clipgen's own rules are
// in docs/FORMAT.md.

/// Constants of the GGUF container as clipgen reads and writes it.
public enum GGUFFormat {
    /// "GGUF" read as a little-endian UInt32.
    public static let magic: UInt32 = 0x4655_4747
    /// The only container version clipgen reads and writes.
    public static let version: UInt32 = 3
    /// Alignment of the data section and of every tensor when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// Largest accepted `general.alignment`: the largest page size of aarch64 Linux kernels (64 KiB).
    public static let maxAlignment = 1 << 16
    /// ggml keeps tensor dimensions in a fixed array of this many entries (GGML_MAX_DIMS).
    public static let maxDimensions = 4
    /// ggml rejects tensor names of 64 bytes or more (GGML_MAX_NAME); the writer keeps within it.
    public static let maxTensorNameBytes = 63
    /// Key of the data alignment in the metadata.
    public static let alignmentKey = "general.alignment"
}

/// The type tag of a metadata value (ggml `gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Encoded size of one value in bytes, or nil for the variable-size string and array.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take: a string is at least its u64 length.
    var minimumEncodedSize: Int { fixedSize ?? 8 }

    public var description: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .float32: return "float32"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float64: return "float64"
        }
    }
}

/// The tensor element types clipgen accepts (a subset of ggml `ggml_type`).
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE binary32, 4 bytes per element.
    case f32 = 0
    /// IEEE binary16, 2 bytes per element.
    case f16 = 1
    /// Blocks of 32 values: fp16 scale `d`, then 32 int8 `q`; value = d * q.
    case q8_0 = 8

    /// Elements per block (1 for the float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16: return 1
        case .q8_0: return 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16: return 2
        case .q8_0: return 34
        }
    }

    /// Alignment the data must have for typed access (the scalar the block starts with).
    public var requiredAlignment: Int {
        switch self {
        case .f32: return 4
        case .f16, .q8_0: return 2
        }
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q8_0: return "Q8_0"
        }
    }
}

/// A tensor shape of 1 to 4 dimensions in ggml order: `shape[0]` varies fastest.
///
/// A PyTorch weight `[out, in]` is stored as `[in, out]`: each row of `in` values is contiguous.
/// The shape is stored inline (no heap allocation).
public struct GGUFShape: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    private var d0 = 1, d1 = 1, d2 = 1, d3 = 1
    /// Number of dimensions (1...4).
    public private(set) var rank: Int

    /// Creates a shape; returns nil when there are not 1...4 dimensions or one is not positive.
    public init?(_ dims: [Int]) {
        guard (1...GGUFFormat.maxDimensions).contains(dims.count), dims.allSatisfy({ $0 > 0 }) else {
            return nil
        }
        rank = dims.count
        for (i, d) in dims.enumerated() { self[i] = d }
    }

    /// Creates a shape from dimensions already checked to be positive (no allocation).
    init(validatedRank rank: Int, _ dim: (Int) -> Int) {
        self.rank = rank
        for i in 0..<rank { self[i] = dim(i) }
    }

    /// Creates a shape from a literal; traps on an invalid literal (a programming error).
    public init(arrayLiteral dims: Int...) {
        guard let shape = GGUFShape(dims) else { preconditionFailure("invalid GGUF shape \(dims)") }
        self = shape
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rank }

    public subscript(i: Int) -> Int {
        get {
            precondition(i >= 0 && i < rank, "dimension index out of range")
            switch i {
            case 0: return d0
            case 1: return d1
            case 2: return d2
            default: return d3
            }
        }
        set {
            switch i {
            case 0: d0 = newValue
            case 1: d1 = newValue
            case 2: d2 = newValue
            default: d3 = newValue
            }
        }
    }

    /// Product of the dimensions (validated not to overflow when read from a file).
    public var elementCount: Int { d0 * d1 * d2 * d3 }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }

    public static func == (a: GGUFShape, b: GGUFShape) -> Bool {
        a.rank == b.rank && a.d0 == b.d0 && a.d1 == b.d1 && a.d2 == b.d2 && a.d3 == b.d3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        hasher.combine(d0); hasher.combine(d1); hasher.combine(d2); hasher.combine(d3)
    }
}
