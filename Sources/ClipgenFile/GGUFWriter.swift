// Writes GGUF v3 files: header, typed metadata, tensor infos, aligned tensor data. Files are
// written atomically (temporary file in the same directory, fsync, rename), so a reader never
// sees a half-written model. Tensor data is written in host byte order: clipgen targets
// little-endian machines only, as does ggml by default.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF v3 file from metadata and already-encoded tensor data.
///
/// Basic usage:
///
///     var w = GGUFWriter()
///     w.add("general.architecture", .string("clipgen"))
///     w.add("clipgen.format_version", .uint32(1))
///     w.addTensor("norm.weight", shape: [512], f32: gamma)
///     w.addTensor("head.weight", type: .q8_0, shape: [512, 16384], bytes: q8Blocks)
///     try w.write(to: "model.gguf")
///
/// Nothing is checked until `write(to:)` / `encoded()`, which report every problem with the path.
public struct GGUFWriter {
    /// Alignment of the data section and of every tensor; written as `general.alignment` when not 32.
    public let alignment: Int
    private var metadata: [(key: String, value: GGUFMetadataValue)] = []
    private var tensors: [PendingTensor] = []

    private enum Payload {
        case bytes([UInt8]), f32([Float]), f16([UInt16])

        var byteCount: Int {
            switch self {
            case .bytes(let b): return b.count
            case .f32(let v): return v.count * 4
            case .f16(let v): return v.count * 2
            }
        }

        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            switch self {
            case .bytes(let b): return try b.withUnsafeBytes(body)
            case .f32(let v): return try v.withUnsafeBytes(body)
            case .f16(let v): return try v.withUnsafeBytes(body)
            }
        }
    }

    private struct PendingTensor {
        let name: String, type: GGMLType, dims: [Int], payload: Payload
    }

    /// A writer whose data section and tensors are aligned to `alignment` (a power of two, 4...65536).
    public init(alignment: Int = GGUFFormat.defaultAlignment) {
        self.alignment = alignment
    }

    /// Adds a metadata entry (written in the order added).
    public mutating func add(_ key: String, _ value: GGUFMetadataValue) {
        metadata.append((key, value))
    }

    /// Adds a tensor from already-encoded bytes (e.g. Q8_0 blocks); `shape[0]` varies fastest.
    public mutating func addTensor(_ name: String, type: GGMLType, shape: [Int], bytes: [UInt8]) {
        tensors.append(PendingTensor(name: name, type: type, dims: shape, payload: .bytes(bytes)))
    }

    /// Adds an F32 tensor; `shape[0]` varies fastest.
    public mutating func addTensor(_ name: String, shape: [Int], f32 values: [Float]) {
        tensors.append(PendingTensor(name: name, type: .f32, dims: shape, payload: .f32(values)))
    }

    /// Adds an F16 tensor from IEEE binary16 bit patterns; `shape[0]` varies fastest.
    public mutating func addTensor(_ name: String, shape: [Int], f16Bits values: [UInt16]) {
        tensors.append(PendingTensor(name: name, type: .f16, dims: shape, payload: .f16(values)))
    }

    /// The whole file as bytes (for tests and small files); `path` only labels errors.
    public func encoded(path: String = "<memory>") throws -> [UInt8] {
        var out = try encodeHeader(path: path)
        for t in tensors {
            t.payload.withBytes { out.append(contentsOf: $0) }
            out.append(contentsOf: repeatElement(0, count: padding(t.payload.byteCount)))
        }
        return out
    }

    /// Writes the file atomically: a temporary file next to `path`, fsync, then rename over `path`.
    /// On any error the temporary file is removed and `path` is left as it was.
    public func write(to path: String) throws {
        let header = try encodeHeader(path: path)
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory.isEmpty ? "/" : directory)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GGUFError.writeFailed(path: path, operation: "create \(temporary)", errno: errno) }
        var isOpen = true
        var renamed = false
        defer {
            if isOpen { close(fd) }
            if !renamed { unlink(temporary) }
        }
        let zeros = [UInt8](repeating: 0, count: alignment)
        try header.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        for t in tensors {
            try t.payload.withBytes { try writeAll(fd, $0, path: path) }
            try zeros.withUnsafeBytes { try writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<padding(t.payload.byteCount)]), path: path) }
        }
        guard fsync(fd) == 0 else { throw GGUFError.writeFailed(path: path, operation: "fsync", errno: errno) }
        isOpen = false
        guard close(fd) == 0 else { throw GGUFError.writeFailed(path: path, operation: "close", errno: errno) }
        guard rename(temporary, path) == 0 else {
            throw GGUFError.writeFailed(path: path, operation: "rename \(temporary)", errno: errno)
        }
        renamed = true
        // Persist the rename itself; failure here leaves a complete file, so it is not an error.
        let dirFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    // MARK: Encoding

    private func padding(_ n: Int) -> Int { (alignment - n % alignment) % alignment }

    /// Validates everything and encodes header, metadata, tensor infos and the padding before the data.
    private func encodeHeader(path: String) throws -> [UInt8] {
        func fail(_ reason: String) -> GGUFError { .invalidWriterInput(path: path, reason: reason) }
        // At least 4, so every F32 tensor is Float-aligned in the mapping (the reader checks it).
        guard alignment >= 4, alignment & (alignment - 1) == 0, alignment <= GGUFFormat.maxAlignment else {
            throw fail("alignment \(alignment) is not a power of two in 4...\(GGUFFormat.maxAlignment)")
        }
        var entries = metadata
        if let given = entries.first(where: { $0.key == GGUFFormat.alignmentKey }) {
            guard given.value == .uint32(UInt32(alignment)) else {
                throw fail("\(GGUFFormat.alignmentKey) = \(given.value) disagrees with the writer's alignment \(alignment) (must be uint32)")
            }
        } else if alignment != GGUFFormat.defaultAlignment {
            entries.insert((GGUFFormat.alignmentKey, .uint32(UInt32(alignment))), at: 0)
        }
        var keys = Set<String>()
        for (key, value) in entries {
            guard keys.insert(key).inserted else { throw fail("duplicate metadata key '\(key)'") }
            if case .array(let type, let elements) = value {
                guard type != .array else { throw fail("metadata key '\(key)' is an array of arrays") }
                guard elements.allSatisfy({ $0.type == type }) else {
                    throw fail("metadata key '\(key)': array elements are not all \(type)")
                }
            }
        }
        var names = Set<String>()
        for t in tensors {
            guard names.insert(t.name).inserted else { throw fail("duplicate tensor name '\(t.name)'") }
            guard t.name.utf8.count <= GGUFFormat.maxTensorNameBytes else {
                throw fail("tensor name '\(t.name)' is longer than \(GGUFFormat.maxTensorNameBytes) bytes (ggml's limit)")
            }
            guard let shape = GGUFShape(t.dims) else {
                throw fail("tensor '\(t.name)' shape \(t.dims) must have 1...4 positive dimensions")
            }
            guard shape[0] % t.type.blockSize == 0 else {
                throw fail("tensor '\(t.name)' of type \(t.type): dims[0] = \(shape[0]) is not a multiple of \(t.type.blockSize)")
            }
            let expected = shape.elementCount / t.type.blockSize * t.type.blockBytes
            guard t.payload.byteCount == expected else {
                throw fail("tensor '\(t.name)' \(t.type) \(shape) needs \(expected) bytes, got \(t.payload.byteCount)")
            }
        }

        var out: [UInt8] = []
        out.appendLE(GGUFFormat.magic)
        out.appendLE(GGUFFormat.version)
        out.appendLE(UInt64(tensors.count))
        out.appendLE(UInt64(entries.count))
        for (key, value) in entries {
            out.appendString(key)
            out.appendLE(value.type.rawValue)
            out.appendValue(value)
        }
        var offset = 0
        for t in tensors {
            out.appendString(t.name)
            out.appendLE(UInt32(t.dims.count))
            for d in t.dims { out.appendLE(UInt64(d)) }
            out.appendLE(t.type.rawValue)
            out.appendLE(UInt64(offset))
            offset += t.payload.byteCount + padding(t.payload.byteCount)
        }
        out.append(contentsOf: repeatElement(0, count: padding(out.count)))
        return out
    }
}

/// Writes all of `bytes`, retrying short writes and EINTR.
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw GGUFError.writeFailed(path: path, operation: "write", errno: errno)
        }
        done += n
    }
}

private extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString(_ s: String) {
        appendLE(UInt64(s.utf8.count))
        append(contentsOf: s.utf8)
    }

    /// Appends a value's payload (its type tag is written by the caller).
    mutating func appendValue(_ value: GGUFMetadataValue) {
        switch value {
        case .uint8(let v): appendLE(v)
        case .int8(let v): appendLE(v)
        case .uint16(let v): appendLE(v)
        case .int16(let v): appendLE(v)
        case .uint32(let v): appendLE(v)
        case .int32(let v): appendLE(v)
        case .float32(let v): appendLE(v.bitPattern)
        case .bool(let v): appendLE(UInt8(v ? 1 : 0))
        case .string(let v): appendString(v)
        case .uint64(let v): appendLE(v)
        case .int64(let v): appendLE(v)
        case .float64(let v): appendLE(v.bitPattern)
        case .array(let type, let elements):
            appendLE(type.rawValue)
            appendLE(UInt64(elements.count))
            for e in elements { appendValue(e) }
        }
    }
}
