// Metadata values: the scalar types, an owned value enum (for the writer and for inspection),
// and zero-copy views of arrays that stay inside the mapped file.

/// A fixed-size metadata scalar that can be read from (and written to) a GGUF file.
public protocol GGUFScalar: Sendable {
    /// The value type tag of this Swift type.
    static var ggufValueType: GGUFValueType { get }
    /// Reads one little-endian value at `pointer` (no alignment needed).
    static func ggufLoad(littleEndianAt pointer: UnsafeRawPointer) -> Self
    /// This value as an owned metadata value.
    var ggufValue: GGUFMetadataValue { get }
}

extension UInt8: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .uint8 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> UInt8 { p.load(as: UInt8.self) }
    public var ggufValue: GGUFMetadataValue { .uint8(self) }
}

extension Int8: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .int8 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Int8 { p.load(as: Int8.self) }
    public var ggufValue: GGUFMetadataValue { .int8(self) }
}

extension UInt16: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .uint16 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))
    }
    public var ggufValue: GGUFMetadataValue { .uint16(self) }
}

extension Int16: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .int16 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Int16 {
        Int16(littleEndian: p.loadUnaligned(as: Int16.self))
    }
    public var ggufValue: GGUFMetadataValue { .int16(self) }
}

extension UInt32: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .uint32 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
    }
    public var ggufValue: GGUFMetadataValue { .uint32(self) }
}

extension Int32: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .int32 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Int32 {
        Int32(littleEndian: p.loadUnaligned(as: Int32.self))
    }
    public var ggufValue: GGUFMetadataValue { .int32(self) }
}

extension UInt64: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .uint64 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
    }
    public var ggufValue: GGUFMetadataValue { .uint64(self) }
}

extension Int64: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .int64 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Int64 {
        Int64(littleEndian: p.loadUnaligned(as: Int64.self))
    }
    public var ggufValue: GGUFMetadataValue { .int64(self) }
}

extension Float: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .float32 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Float {
        Float(bitPattern: UInt32.ggufLoad(littleEndianAt: p))
    }
    public var ggufValue: GGUFMetadataValue { .float32(self) }
}

extension Double: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .float64 }
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Double {
        Double(bitPattern: UInt64.ggufLoad(littleEndianAt: p))
    }
    public var ggufValue: GGUFMetadataValue { .float64(self) }
}

extension Bool: GGUFScalar {
    public static var ggufValueType: GGUFValueType { .bool }
    /// Any non-zero byte reads as true, so no byte pattern is undefined behaviour.
    public static func ggufLoad(littleEndianAt p: UnsafeRawPointer) -> Bool { p.load(as: UInt8.self) != 0 }
    public var ggufValue: GGUFMetadataValue { .bool(self) }
}

/// An owned metadata value: what the writer takes and what `GGUFFile.value(_:)` returns.
public indirect enum GGUFMetadataValue: Equatable, Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// A homogeneous array: every element must have the given type (arrays may not nest).
    case array(GGUFValueType, [GGUFMetadataValue])

    /// An array of scalars.
    public static func array<T: GGUFScalar>(_ values: [T]) -> GGUFMetadataValue {
        .array(T.ggufValueType, values.map(\.ggufValue))
    }

    /// An array of strings.
    public static func stringArray(_ values: [String]) -> GGUFMetadataValue {
        .array(.string, values.map { .string($0) })
    }

    /// The type tag of this value.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        case .array: return .array
        }
    }

    public var description: String {
        switch self {
        case .uint8(let v): return "\(v)"
        case .int8(let v): return "\(v)"
        case .uint16(let v): return "\(v)"
        case .int16(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .array(let t, let elements):
            let head = elements.prefix(8).map(\.description).joined(separator: ", ")
            let more = elements.count > 8 ? ", ... (\(elements.count) \(t) values)" : ""
            return "[" + head + more + "]"
        }
    }
}

/// A zero-copy, random-access view of a numeric or bool metadata array inside the mapped file.
public struct GGUFArray<Element: GGUFScalar>: RandomAccessCollection, @unchecked Sendable {
    let region: MappedRegion
    let base: UnsafeRawPointer
    public let count: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Element {
        precondition(i >= 0 && i < count, "GGUFArray index out of range")
        return Element.ggufLoad(littleEndianAt: base + i * Element.ggufValueType.fixedSize!)
    }
}

/// The UTF-8 bytes of one string inside the mapped file (validated UTF-8).
///
/// Only valid while the `GGUFFile` (or the `GGUFStringArray`) it came from is alive.
public struct GGUFStringView: @unchecked Sendable, CustomStringConvertible {
    /// The bytes, without a terminator.
    public let bytes: UnsafeRawBufferPointer
    /// A new Swift string with these bytes.
    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { string }
    /// Whether the bytes equal the UTF-8 of `other` (byte-wise, no Unicode normalisation).
    public func equals(_ other: String) -> Bool {
        var other = other
        return other.withUTF8 { $0.count == bytes.count && $0.elementsEqual(bytes) }
    }
}

/// A zero-copy view of a string array (e.g. 49k tokenizer merges): strings are read in order
/// straight from the mapping, so no per-string allocation happens until the caller asks.
public struct GGUFStringArray: Sequence, @unchecked Sendable {
    let region: MappedRegion
    let base: UnsafeRawPointer
    /// Number of strings.
    public let count: Int

    public struct Iterator: IteratorProtocol {
        let region: MappedRegion
        var cursor: UnsafeRawPointer
        var remaining: Int

        public mutating func next() -> GGUFStringView? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            // Lengths and UTF-8 were validated when the file was opened.
            let length = Int(UInt64.ggufLoad(littleEndianAt: cursor))
            let view = GGUFStringView(bytes: UnsafeRawBufferPointer(start: cursor + 8, count: length))
            cursor += 8 + length
            return view
        }
    }

    public func makeIterator() -> Iterator { Iterator(region: region, cursor: base, remaining: count) }
    public var underestimatedCount: Int { count }

    /// All strings as Swift strings (allocates one string per element).
    public func strings() -> [String] { map(\.string) }
}
