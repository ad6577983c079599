// Every way a GGUF file can be wrong, unreadable or not what the caller asked for. Each case
// carries the file path, and the key or tensor name where one applies, so the description alone
// says which file to fix and where.

/// An error from reading, validating, querying or writing a GGUF file.
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    // File system.
    /// `open` failed.
    case openFailed(path: String, errno: Int32)
    /// A system call (`fstat`, `mmap`, ...) failed.
    case ioFailed(path: String, operation: String, errno: Int32)
    /// The path is a directory, device or other non-regular file.
    case notRegularFile(path: String)

    // Header and metadata.
    /// The first four bytes are not "GGUF".
    case badMagic(path: String, found: UInt32)
    /// The version is not 3.
    case unsupportedVersion(path: String, version: UInt32)
    /// A fixed-size header field would end past end-of-file.
    case truncatedHeader(path: String, offset: Int, reading: String)
    /// A count (tensors, metadata entries, array elements) is larger than the rest of the file could hold.
    case absurdCount(path: String, what: String, count: UInt64, limit: UInt64)
    /// A string's declared length runs past end-of-file.
    case stringPastEOF(path: String, what: String, length: UInt64, offset: Int)
    /// A key, tensor name or string value is not well-formed UTF-8.
    case invalidUTF8(path: String, what: String)
    /// A metadata value type tag outside 0...12.
    case unknownValueType(path: String, key: String, type: UInt32)
    /// An array whose elements are arrays (ggml does not read them either).
    case nestedArray(path: String, key: String)
    /// Two metadata entries share a key.
    case duplicateKey(path: String, key: String)
    /// `general.alignment` has the wrong type or is not a power of two in 1...65536.
    case badAlignment(path: String, reason: String)

    // Tensor infos.
    /// n_dims is 0 or more than 4.
    case badDimensionCount(path: String, tensor: String, nDims: UInt32)
    /// A dimension is 0 (clipgen rejects empty tensors).
    case zeroDimension(path: String, tensor: String, dims: [UInt64])
    /// The element or byte count does not fit in a signed machine word.
    case elementCountOverflow(path: String, tensor: String, dims: [UInt64])
    /// The ggml type is not F32 (0), F16 (1) or Q8_0 (8).
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    /// dims[0] is not a multiple of the type's block size (32 for Q8_0).
    case blockMisfit(path: String, tensor: String, type: GGMLType, rowLength: UInt64)
    /// Two tensors share a name.
    case duplicateTensor(path: String, name: String)
    /// A tensor offset is not a multiple of the required alignment.
    case offsetMisaligned(path: String, tensor: String, offset: UInt64, alignment: Int)
    /// A tensor starts at or past end-of-file.
    case offsetOutOfRange(path: String, tensor: String, offset: UInt64, dataSectionSize: Int)
    /// A tensor starts inside the file but ends past end-of-file.
    case truncatedData(path: String, tensor: String, end: UInt64, fileSize: Int)
    /// Two tensors' data ranges overlap.
    case overlappingTensors(path: String, first: String, second: String)

    // Lookups.
    /// No metadata entry has this key.
    case missingKey(path: String, key: String)
    /// The metadata entry has another type than the caller asked for.
    case typeMismatch(path: String, key: String, expected: String, actual: String)
    /// An integer value does not fit the requested Swift type.
    case valueOutOfRange(path: String, key: String, value: String)
    /// No tensor has this name.
    case missingTensor(path: String, name: String)
    /// The tensor has another element type than the caller asked for.
    case tensorTypeMismatch(path: String, tensor: String, expected: GGMLType, actual: GGMLType)
    /// The tensor has another shape than the caller asked for.
    case tensorShapeMismatch(path: String, tensor: String, expected: GGUFShape, actual: GGUFShape)

    // Writer.
    /// The writer was given something it cannot encode.
    case invalidWriterInput(path: String, reason: String)
    /// A system call failed while writing.
    case writeFailed(path: String, operation: String, errno: Int32)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .openFailed(let p, _), .ioFailed(let p, _, _), .notRegularFile(let p),
             .badMagic(let p, _), .unsupportedVersion(let p, _), .truncatedHeader(let p, _, _),
             .absurdCount(let p, _, _, _), .stringPastEOF(let p, _, _, _), .invalidUTF8(let p, _),
             .unknownValueType(let p, _, _), .nestedArray(let p, _), .duplicateKey(let p, _),
             .badAlignment(let p, _), .badDimensionCount(let p, _, _), .zeroDimension(let p, _, _),
             .elementCountOverflow(let p, _, _), .unknownTensorType(let p, _, _),
             .blockMisfit(let p, _, _, _), .duplicateTensor(let p, _), .offsetMisaligned(let p, _, _, _),
             .offsetOutOfRange(let p, _, _, _), .truncatedData(let p, _, _, _),
             .overlappingTensors(let p, _, _), .missingKey(let p, _), .typeMismatch(let p, _, _, _),
             .valueOutOfRange(let p, _, _), .missingTensor(let p, _), .tensorTypeMismatch(let p, _, _, _),
             .tensorShapeMismatch(let p, _, _, _), .invalidWriterInput(let p, _), .writeFailed(let p, _, _):
            return p
        }
    }

    public var description: String { "\(path): " + detail }

    private var detail: String {
        switch self {
        case .openFailed(_, let e):
            return "cannot open: \(errnoDescription(e))"
        case .ioFailed(_, let op, let e):
            return "\(op) failed: \(errnoDescription(e))"
        case .notRegularFile:
            return "not a regular file"
        case .badMagic(_, let found):
            return "not a GGUF file: magic is 0x\(String(found, radix: 16)), expected 0x46554747 (\"GGUF\")"
        case .unsupportedVersion(_, let v):
            return "unsupported GGUF version \(v) (clipgen reads version \(GGUFFormat.version))"
        case .truncatedHeader(_, let offset, let what):
            return "truncated header: file ends while reading \(what) at byte \(offset)"
        case .absurdCount(_, let what, let count, let limit):
            return "\(what) is \(count), but the rest of the file can hold at most \(limit)"
        case .stringPastEOF(_, let what, let length, let offset):
            return "\(what): string of \(length) bytes at byte \(offset) runs past end of file"
        case .invalidUTF8(_, let what):
            return "\(what) is not valid UTF-8"
        case .unknownValueType(_, let key, let t):
            return "metadata key '\(key)' has unknown value type \(t) (known: 0...12)"
        case .nestedArray(_, let key):
            return "metadata key '\(key)' is an array of arrays, which is not supported"
        case .duplicateKey(_, let key):
            return "duplicate metadata key '\(key)'"
        case .badAlignment(_, let reason):
            return "bad \(GGUFFormat.alignmentKey): \(reason)"
        case .badDimensionCount(_, let t, let n):
            return "tensor '\(t)' has \(n) dimensions (must be 1...\(GGUFFormat.maxDimensions))"
        case .zeroDimension(_, let t, let dims):
            return "tensor '\(t)' has a zero dimension in \(dims) (empty tensors are not allowed)"
        case .elementCountOverflow(_, let t, let dims):
            return "tensor '\(t)' dims \(dims): element or byte count overflows"
        case .unknownTensorType(_, let t, let type):
            return "tensor '\(t)' has unsupported ggml type \(type) (clipgen reads F32 = 0, F16 = 1, Q8_0 = 8)"
        case .blockMisfit(_, let t, let type, let row):
            return "tensor '\(t)' of type \(type): dims[0] = \(row) is not a multiple of the block size \(type.blockSize)"
        case .duplicateTensor(_, let name):
            return "duplicate tensor name '\(name)'"
        case .offsetMisaligned(_, let t, let offset, let a):
            return "tensor '\(t)' data offset \(offset) is not a multiple of \(a)"
        case .offsetOutOfRange(_, let t, let offset, let size):
            return "tensor '\(t)' data offset \(offset) is outside the data section (\(size) bytes)"
        case .truncatedData(_, let t, let end, let size):
            return "truncated data: tensor '\(t)' ends at byte \(end), past end of file (\(size) bytes)"
        case .overlappingTensors(_, let a, let b):
            return "tensors '\(a)' and '\(b)' overlap"
        case .missingKey(_, let key):
            return "missing metadata key '\(key)'"
        case .typeMismatch(_, let key, let expected, let actual):
            return "metadata key '\(key)' has type \(actual), expected \(expected)"
        case .valueOutOfRange(_, let key, let value):
            return "metadata key '\(key)' value \(value) does not fit the requested integer type"
        case .missingTensor(_, let name):
            return "missing tensor '\(name)'"
        case .tensorTypeMismatch(_, let t, let expected, let actual):
            return "tensor '\(t)' has type \(actual), expected \(expected)"
        case .tensorShapeMismatch(_, let t, let expected, let actual):
            return "tensor '\(t)' has shape \(actual), expected \(expected)"
        case .invalidWriterInput(_, let reason):
            return "cannot write: \(reason)"
        case .writeFailed(_, let op, let e):
            return "write failed during \(op): \(errnoDescription(e))"
        }
    }
}
