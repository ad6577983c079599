// The validating parser: walks the header inside the mapped file, checking every read against
// the file size with overflow-checked arithmetic, and produces compact tables of metadata entries
// and tensors that point into the mapping. It allocates only those tables and two dictionaries.

/// One metadata entry: where its value lies in the file.
struct KVEntry {
    let key: ByteKey
    let type: GGUFValueType
    /// For arrays, the element type; otherwise `type`.
    let elementType: GGUFValueType
    /// File offset of the value; for strings, of the bytes after the length; for arrays, of the first element.
    let payload: Int
    /// String length in bytes, array element count, or 1 for a scalar.
    let count: Int
}

/// One tensor: its checked type, shape and absolute data range in the file.
struct TensorEntry {
    let name: ByteKey
    let type: GGMLType
    let shape: GGUFShape
    /// Absolute file offset of the first byte (validated after all infos are read).
    var fileOffset: Int
    /// Offset relative to the data section, as stored in the file.
    let relativeOffset: UInt64
    let byteCount: Int
}

/// The result of a successful parse.
struct ParsedHeader {
    var kvs: [KVEntry] = []
    var kvIndex: [ByteKey: Int] = [:]
    var tensors: [TensorEntry] = []
    var tensorIndex: [ByteKey: Int] = [:]
    var alignment = GGUFFormat.defaultAlignment
    var dataOffset = 0
}

/// Smallest encodings, used to reject counts the rest of the file could not hold before allocating.
private let minimumKVBytes = 8 + 4 + 1          // key length, type, one-byte value
private let minimumTensorInfoBytes = 8 + 4 + 8 + 4 + 8  // name length, n_dims, one dim, type, offset
/// Tables are grown, not reserved up front, past this many entries (a count can pass the size
/// bound yet be huge for a huge file).
private let maximumReservation = 1 << 12

/// A bounds-checked reader over the mapped bytes.
private struct Cursor {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    var offset = 0

    var remaining: Int { size - offset }

    mutating func read<T: GGUFScalar>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let n = T.ggufValueType.fixedSize!
        guard remaining >= n else { throw GGUFError.truncatedHeader(path: path, offset: offset, reading: what()) }
        defer { offset += n }
        return T.ggufLoad(littleEndianAt: base + offset)
    }

    /// Reads a length-prefixed string and checks that it is UTF-8.
    mutating func readString(_ what: @autoclosure () -> String) throws -> ByteKey {
        let length = try read(UInt64.self, "length of \(what())")
        guard length <= UInt64(remaining) else {
            throw GGUFError.stringPastEOF(path: path, what: what(), length: length, offset: offset)
        }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: Int(length))
        offset += Int(length)
        guard isValidUTF8(bytes) else { throw GGUFError.invalidUTF8(path: path, what: what()) }
        return ByteKey(bytes)
    }

    /// Throws unless `count` items of at least `itemBytes` each fit in the rest of the file.
    func checkCount(_ count: UInt64, itemBytes: Int, _ what: @autoclosure () -> String) throws {
        let limit = UInt64(remaining / itemBytes)
        guard count <= limit else {
            throw GGUFError.absurdCount(path: path, what: what(), count: count, limit: limit)
        }
    }
}

/// Parses and validates the whole header of the `size`-byte file mapped at `base`.
func parseGGUF(base: UnsafeRawPointer, size: Int, path: String) throws -> ParsedHeader {
    var c = Cursor(base: base, size: size, path: path)
    var out = ParsedHeader()

    let magic = try c.read(UInt32.self, "magic")
    guard magic == GGUFFormat.magic else { throw GGUFError.badMagic(path: path, found: magic) }
    let version = try c.read(UInt32.self, "version")
    guard version == GGUFFormat.version else { throw GGUFError.unsupportedVersion(path: path, version: version) }
    let tensorCount = try c.read(UInt64.self, "tensor_count")
    let kvCount = try c.read(UInt64.self, "kv_count")
    try c.checkCount(tensorCount, itemBytes: minimumTensorInfoBytes, "tensor_count")
    try c.checkCount(kvCount, itemBytes: minimumKVBytes, "kv_count")

    out.kvs.reserveCapacity(min(Int(kvCount), maximumReservation))
    for i in 0..<Int(kvCount) {
        let entry = try parseKV(&c, index: i)
        guard out.kvIndex.updateValue(out.kvs.count, forKey: entry.key) == nil else {
            throw GGUFError.duplicateKey(path: path, key: entry.key.string)
        }
        out.kvs.append(entry)
    }
    out.alignment = try resolveAlignment(out, base: base, path: path)

    try c.checkCount(tensorCount, itemBytes: minimumTensorInfoBytes, "tensor_count")
    out.tensors.reserveCapacity(min(Int(tensorCount), maximumReservation))
    for i in 0..<Int(tensorCount) {
        let entry = try parseTensorInfo(&c, index: i)
        guard out.tensorIndex.updateValue(out.tensors.count, forKey: entry.name) == nil else {
            throw GGUFError.duplicateTensor(path: path, name: entry.name.string)
        }
        out.tensors.append(entry)
    }

    // The data section starts at the first aligned offset after the tensor infos.
    let (padded, overflow) = c.offset.addingReportingOverflow(out.alignment - 1)
    out.dataOffset = overflow ? Int.max : padded & ~(out.alignment - 1)
    try placeTensors(&out, size: size, path: path)
    return out
}

/// Reads one key and its value, validating every string inside it.
private func parseKV(_ c: inout Cursor, index: Int) throws -> KVEntry {
    let key = try c.readString("key of metadata entry #\(index)")
    let rawType = try c.read(UInt32.self, "value type of key '\(key.string)'")
    guard let type = GGUFValueType(rawValue: rawType) else {
        throw GGUFError.unknownValueType(path: c.path, key: key.string, type: rawType)
    }
    switch type {
    case .string:
        let value = try c.readString("value of key '\(key.string)'")
        return KVEntry(key: key, type: .string, elementType: .string,
                       payload: value.start - c.base, count: value.count)
    case .array:
        let rawElement = try c.read(UInt32.self, "element type of key '\(key.string)'")
        guard let element = GGUFValueType(rawValue: rawElement) else {
            throw GGUFError.unknownValueType(path: c.path, key: key.string, type: rawElement)
        }
        guard element != .array else { throw GGUFError.nestedArray(path: c.path, key: key.string) }
        let count = try c.read(UInt64.self, "element count of key '\(key.string)'")
        try c.checkCount(count, itemBytes: element.minimumEncodedSize, "element count of key '\(key.string)'")
        let payload = c.offset
        if let size = element.fixedSize {
            c.offset += Int(count) * size  // within the file: checked by checkCount
        } else {
            for i in 0..<Int(count) {
                _ = try c.readString("element \(i) of key '\(key.string)'")
            }
        }
        return KVEntry(key: key, type: .array, elementType: element, payload: payload, count: Int(count))
    default:
        let size = type.fixedSize!
        guard c.remaining >= size else {
            throw GGUFError.truncatedHeader(path: c.path, offset: c.offset, reading: "value of key '\(key.string)'")
        }
        let payload = c.offset
        c.offset += size
        return KVEntry(key: key, type: type, elementType: type, payload: payload, count: 1)
    }
}

/// `general.alignment` if present (a uint32 power of two in 1...65536), else the default.
private func resolveAlignment(_ header: ParsedHeader, base: UnsafeRawPointer, path: String) throws -> Int {
    guard let i = ByteKey.with(GGUFFormat.alignmentKey, { header.kvIndex[$0] }) else {
        return GGUFFormat.defaultAlignment
    }
    let entry = header.kvs[i]
    guard entry.type == .uint32 else {
        throw GGUFError.badAlignment(path: path, reason: "type is \(entry.type), expected uint32")
    }
    let value = Int(UInt32.ggufLoad(littleEndianAt: base + entry.payload))
    guard value > 0, value & (value - 1) == 0, value <= GGUFFormat.maxAlignment else {
        throw GGUFError.badAlignment(
            path: path, reason: "\(value) is not a power of two in 1...\(GGUFFormat.maxAlignment)")
    }
    return value
}

/// Reads one tensor info and checks its shape, type and byte count (not yet its offset).
private func parseTensorInfo(_ c: inout Cursor, index: Int) throws -> TensorEntry {
    let name = try c.readString("name of tensor #\(index)")
    let nDims = try c.read(UInt32.self, "n_dims of tensor '\(name.string)'")
    guard nDims >= 1 && Int(nDims) <= GGUFFormat.maxDimensions else {
        throw GGUFError.badDimensionCount(path: c.path, tensor: name.string, nDims: nDims)
    }
    var dims = RawDims()
    dims.rank = Int(nDims)
    for d in 0..<dims.rank {
        dims[d] = try c.read(UInt64.self, "dims[\(d)] of tensor '\(name.string)'")
    }
    let rawType = try c.read(UInt32.self, "type of tensor '\(name.string)'")
    let offset = try c.read(UInt64.self, "offset of tensor '\(name.string)'")

    guard !(0..<dims.rank).contains(where: { dims[$0] == 0 }) else {
        throw GGUFError.zeroDimension(path: c.path, tensor: name.string, dims: dims.values)
    }
    guard let type = GGMLType(rawValue: rawType) else {
        throw GGUFError.unknownTensorType(path: c.path, tensor: name.string, type: rawType)
    }
    // Element and byte counts must fit a signed word: check each product for overflow.
    var elements = 1
    var byteCount = 0
    var overflow = false
    for d in 0..<dims.rank {
        guard dims[d] <= UInt64(Int.max) else { overflow = true; break }
        let (p, o) = elements.multipliedReportingOverflow(by: Int(dims[d]))
        elements = p
        overflow = overflow || o
    }
    if !overflow {
        guard dims[0] % UInt64(type.blockSize) == 0 else {
            throw GGUFError.blockMisfit(path: c.path, tensor: name.string, type: type, rowLength: dims[0])
        }
        (byteCount, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
    }
    guard !overflow else {
        throw GGUFError.elementCountOverflow(path: c.path, tensor: name.string, dims: dims.values)
    }
    let shape = GGUFShape(validatedRank: dims.rank) { Int(dims[$0]) }
    return TensorEntry(name: name, type: type, shape: shape, fileOffset: 0, relativeOffset: offset, byteCount: byteCount)
}

/// Checks each tensor's offset (aligned, inside the file, data within the file) and that no two overlap.
private func placeTensors(_ header: inout ParsedHeader, size: Int, path: String) throws {
    let dataSectionSize = max(0, size - header.dataOffset)
    for i in header.tensors.indices {
        let t = header.tensors[i]
        let name = { t.name.string }
        guard t.relativeOffset % UInt64(header.alignment) == 0 else {
            throw GGUFError.offsetMisaligned(path: path, tensor: name(), offset: t.relativeOffset,
                                             alignment: header.alignment)
        }
        guard t.relativeOffset < UInt64(dataSectionSize) else {
            throw GGUFError.offsetOutOfRange(path: path, tensor: name(), offset: t.relativeOffset,
                                             dataSectionSize: dataSectionSize)
        }
        let start = header.dataOffset + Int(t.relativeOffset)  // < size: no overflow
        guard t.byteCount <= size - start else {
            throw GGUFError.truncatedData(path: path, tensor: name(),
                                          end: UInt64(start) + UInt64(t.byteCount), fileSize: size)
        }
        // With a small general.alignment the absolute address must still suit the element type.
        guard start % t.type.requiredAlignment == 0 else {
            throw GGUFError.offsetMisaligned(path: path, tensor: name(), offset: t.relativeOffset,
                                             alignment: t.type.requiredAlignment)
        }
        header.tensors[i].fileOffset = start
    }
    guard header.tensors.count > 1 else { return }
    let order = header.tensors.indices.sorted { header.tensors[$0].fileOffset < header.tensors[$1].fileOffset }
    for k in 1..<order.count {
        let a = header.tensors[order[k - 1]], b = header.tensors[order[k]]
        if a.fileOffset + a.byteCount > b.fileOffset {
            throw GGUFError.overlappingTensors(path: path, first: a.name.string, second: b.name.string)
        }
    }
}

/// Up to four raw dimensions read from a tensor info, kept inline (no allocation per tensor).
private struct RawDims {
    var d0: UInt64 = 1, d1: UInt64 = 1, d2: UInt64 = 1, d3: UInt64 = 1
    var rank = 0

    subscript(i: Int) -> UInt64 {
        get { i == 0 ? d0 : i == 1 ? d1 : i == 2 ? d2 : d3 }
        set {
            switch i {
            case 0: d0 = newValue
            case 1: d1 = newValue
            case 2: d2 = newValue
            default: d3 = newValue
            }
        }
    }

    /// The dimensions as an array, for error messages.
    var values: [UInt64] { (0..<rank).map { self[$0] } }
}
