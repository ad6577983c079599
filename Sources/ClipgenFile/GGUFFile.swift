// The opened model file: validated once at open, then metadata getters and tensor views that
// read straight from the mapping.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A GGUF v3 file, validated and mapped read-only.
///
/// Opening checks every header field, metadata value and tensor extent against the file size
/// before use, then hands out zero-copy views. Loading allocates only small index tables.
///
/// Basic usage:
///
///     let file = try GGUFFile(path: "model.gguf")
///     let layers = try file.uint32("clipgen.n_layers")
///     let w = try file.tensor("blocks.0.attn.qkv.weight", type: .q8_0, shape: [768, 2304])
///     let row0 = w.q8_0Row(0)                    // 24 blocks of 34 bytes, inside the mapping
///     precondition(file.unusedTensorNames.isEmpty)
///
/// Not thread-safe: look tensors up from one thread (views may then be shared freely).
public final class GGUFFile {
    /// The path the file was opened with (used in every error).
    public let path: String
    let region: MappedRegion
    private let header: ParsedHeader
    private var requested: [Bool]

    /// Opens, validates and maps the file at `path`.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.openFailed(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError.ioFailed(path: path, operation: "fstat", errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GGUFError.notRegularFile(path: path) }
        guard st.st_size > 0 else { throw GGUFError.truncatedHeader(path: path, offset: 0, reading: "magic") }
        guard let size = Int(exactly: st.st_size) else {
            throw GGUFError.ioFailed(path: path, operation: "mmap (file larger than the address space)", errno: EFBIG)
        }
        region = try MappedRegion(fd: fd, size: size, path: path)
        header = try parseGGUF(base: region.base, size: size, path: path)
        requested = [Bool](repeating: false, count: header.tensors.count)
    }

    // MARK: File facts

    /// Size of the file in bytes.
    public var fileSize: Int { region.size }
    /// The whole mapped file (for checks that a view lies inside it).
    public var mappedBytes: UnsafeRawBufferPointer { region.bytes }
    /// Data alignment (`general.alignment`, default 32).
    public var alignment: Int { header.alignment }
    /// File offset of the tensor data section.
    public var dataOffset: Int { header.dataOffset }

    // MARK: Metadata

    /// All metadata keys, in file order.
    public var metadataKeys: [String] { header.kvs.map { $0.key.string } }

    /// Whether the metadata has `key`.
    public func contains(_ key: String) -> Bool { entry(key) != nil }

    /// The type of the value at `key`, or nil when absent.
    public func valueType(of key: String) -> GGUFValueType? { entry(key)?.type }

    /// A scalar value of exactly type `T`.
    public func scalar<T: GGUFScalar>(_ key: String, as _: T.Type = T.self) throws -> T {
        let e = try entry(key, expecting: T.ggufValueType)
        return T.ggufLoad(littleEndianAt: region.base + e.payload)
    }

    public func uint8(_ key: String) throws -> UInt8 { try scalar(key) }
    public func int8(_ key: String) throws -> Int8 { try scalar(key) }
    public func uint16(_ key: String) throws -> UInt16 { try scalar(key) }
    public func int16(_ key: String) throws -> Int16 { try scalar(key) }
    public func uint32(_ key: String) throws -> UInt32 { try scalar(key) }
    public func int32(_ key: String) throws -> Int32 { try scalar(key) }
    public func uint64(_ key: String) throws -> UInt64 { try scalar(key) }
    public func int64(_ key: String) throws -> Int64 { try scalar(key) }
    public func float32(_ key: String) throws -> Float { try scalar(key) }
    public func float64(_ key: String) throws -> Double { try scalar(key) }
    public func bool(_ key: String) throws -> Bool { try scalar(key) }

    /// Any integer-typed value (u8 ... i64) as `Int`; throws if it does not fit.
    public func integer(_ key: String) throws -> Int {
        guard let e = entry(key) else { throw GGUFError.missingKey(path: path, key: key) }
        let p = region.base + e.payload
        let value: Int?
        switch e.type {
        case .uint8: value = Int(UInt8.ggufLoad(littleEndianAt: p))
        case .int8: value = Int(Int8.ggufLoad(littleEndianAt: p))
        case .uint16: value = Int(UInt16.ggufLoad(littleEndianAt: p))
        case .int16: value = Int(Int16.ggufLoad(littleEndianAt: p))
        case .uint32: value = Int(exactly: UInt32.ggufLoad(littleEndianAt: p))
        case .int32: value = Int(Int32.ggufLoad(littleEndianAt: p))
        case .uint64: value = Int(exactly: UInt64.ggufLoad(littleEndianAt: p))
        case .int64: value = Int(exactly: Int64.ggufLoad(littleEndianAt: p))
        default:
            throw GGUFError.typeMismatch(path: path, key: key, expected: "an integer type", actual: typeName(e))
        }
        guard let value else {
            throw GGUFError.valueOutOfRange(path: path, key: key, value: "\(UInt64.ggufLoad(littleEndianAt: p))")
        }
        return value
    }

    /// A string value.
    public func string(_ key: String) throws -> String { try stringView(key).string }

    /// A string value as bytes inside the mapping (no allocation).
    public func stringView(_ key: String) throws -> GGUFStringView {
        let e = try entry(key, expecting: .string)
        return GGUFStringView(bytes: UnsafeRawBufferPointer(start: region.base + e.payload, count: e.count))
    }

    /// An array of scalars of exactly type `T`, read in place.
    public func array<T: GGUFScalar>(_ key: String, of _: T.Type) throws -> GGUFArray<T> {
        let e = try entry(key, expecting: .array, element: T.ggufValueType)
        return GGUFArray(region: region, base: region.base + e.payload, count: e.count)
    }

    /// An array of strings, read in place (e.g. tokenizer merges).
    public func stringArray(_ key: String) throws -> GGUFStringArray {
        let e = try entry(key, expecting: .array, element: .string)
        return GGUFStringArray(region: region, base: region.base + e.payload, count: e.count)
    }

    /// The value at `key` as an owned value (allocates; for inspection and tests).
    public func value(_ key: String) throws -> GGUFMetadataValue {
        guard let e = entry(key) else { throw GGUFError.missingKey(path: path, key: key) }
        let p = region.base + e.payload
        switch e.type {
        case .string: return .string(try string(key))
        case .array:
            if e.elementType == .string { return .array(.string, try stringArray(key).map { .string($0.string) }) }
            let size = e.elementType.fixedSize!
            return .array(e.elementType, (0..<e.count).map { scalarValue(e.elementType, at: p + $0 * size) })
        default: return scalarValue(e.type, at: p)
        }
    }

    // MARK: Tensors

    /// Number of tensors.
    public var tensorCount: Int { header.tensors.count }
    /// All tensor names, in file order.
    public var tensorNames: [String] { header.tensors.map { $0.name.string } }
    /// Views of all tensors in file order, without marking them as used (for inspection).
    public var tensors: [GGUFTensor] { header.tensors.map { GGUFTensor($0, name: $0.name.string, region: region) } }

    /// The tensor called `name`; marks it as used.
    public func tensor(_ name: String) throws -> GGUFTensor {
        guard let i = ByteKey.with(name, { header.tensorIndex[$0] }) else {
            throw GGUFError.missingTensor(path: path, name: name)
        }
        requested[i] = true
        return GGUFTensor(header.tensors[i], name: name, region: region)
    }

    /// The tensor called `name`, checked to have `type` and `shape` (ggml order, `shape[0]` fastest).
    public func tensor(_ name: String, type: GGMLType, shape: GGUFShape) throws -> GGUFTensor {
        let t = try tensor(name)
        guard t.type == type else {
            throw GGUFError.tensorTypeMismatch(path: path, tensor: name, expected: type, actual: t.type)
        }
        guard t.shape == shape else {
            throw GGUFError.tensorShapeMismatch(path: path, tensor: name, expected: shape, actual: t.shape)
        }
        return t
    }

    /// Names of tensors never returned by `tensor(_:)`, in file order: a converter/runtime mismatch.
    public var unusedTensorNames: [String] {
        header.tensors.indices.filter { !requested[$0] }.map { header.tensors[$0].name.string }
    }

    // MARK: Helpers

    private func entry(_ key: String) -> KVEntry? {
        ByteKey.with(key) { header.kvIndex[$0] }.map { header.kvs[$0] }
    }

    private func entry(_ key: String, expecting type: GGUFValueType, element: GGUFValueType? = nil) throws -> KVEntry {
        guard let e = entry(key) else { throw GGUFError.missingKey(path: path, key: key) }
        guard e.type == type, element == nil || e.elementType == element else {
            let expected = element.map { "array[\($0)]" } ?? "\(type)"
            throw GGUFError.typeMismatch(path: path, key: key, expected: expected, actual: typeName(e))
        }
        return e
    }

    private func typeName(_ e: KVEntry) -> String { e.type == .array ? "array[\(e.elementType)]" : "\(e.type)" }

    private func scalarValue(_ type: GGUFValueType, at p: UnsafeRawPointer) -> GGUFMetadataValue {
        switch type {
        case .uint8: return UInt8.ggufLoad(littleEndianAt: p).ggufValue
        case .int8: return Int8.ggufLoad(littleEndianAt: p).ggufValue
        case .uint16: return UInt16.ggufLoad(littleEndianAt: p).ggufValue
        case .int16: return Int16.ggufLoad(littleEndianAt: p).ggufValue
        case .uint32: return UInt32.ggufLoad(littleEndianAt: p).ggufValue
        case .int32: return Int32.ggufLoad(littleEndianAt: p).ggufValue
        case .float32: return Float.ggufLoad(littleEndianAt: p).ggufValue
        case .bool: return Bool.ggufLoad(littleEndianAt: p).ggufValue
        case .uint64: return UInt64.ggufLoad(littleEndianAt: p).ggufValue
        case .int64: return Int64.ggufLoad(littleEndianAt: p).ggufValue
        case .float64: return Double.ggufLoad(littleEndianAt: p).ggufValue
        case .string, .array: preconditionFailure("not a scalar type")
        }
    }
}
