// Reading one component (`clip`, `gpt`, `vqgan`) of a converted model file: its `clipgen.<component>.*`
// metadata and its `<component>.*` tensors, each checked once, with errors that name the key or tensor.
// The names themselves live in one table per model (GPT.swift, ...), as docs/model-*.md list them.

import ClipgenFile

/// Typed, checked access to one component of a model file.
public struct ComponentReader {
    /// The open file.
    public let file: GGUFFile
    /// Component name: tensor names start with "<name>." and metadata keys with "clipgen.<name>.".
    public let component: String

    /// A reader for `component`; fails when the file's `clipgen.components` does not list it.
    public init(_ file: GGUFFile, component: String) throws {
        self.file = file
        self.component = component
        let listed = file.contains("clipgen.components") ? try file.stringArray("clipgen.components").map { $0.string } : []
        guard listed.contains(component) else { throw ModelError.missingComponent(path: file.path, component: component) }
    }

    /// The full metadata key of `key`.
    public func metadataKey(_ key: String) -> String { "clipgen.\(component).\(key)" }

    /// An integer metadata value (any integer GGUF type) within `range`.
    public func int(_ key: String, in range: ClosedRange<Int> = 1...(1 << 30)) throws -> Int {
        let value = try file.integer(metadataKey(key))
        guard range.contains(value) else {
            throw ModelError.invalidMetadata(path: file.path, key: metadataKey(key),
                                             reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A float metadata value (f32 or f64), finite and within `range`.
    public func float(_ key: String, in range: ClosedRange<Float>) throws -> Float {
        let full = metadataKey(key)
        let value: Float = file.valueType(of: full) == .float64 ? Float(try file.float64(full)) : try file.float32(full)
        guard value.isFinite, range.contains(value) else {
            throw ModelError.invalidMetadata(path: file.path, key: full,
                                             reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A string metadata value that must be one of `allowed`.
    public func string(_ key: String, oneOf allowed: [String]) throws -> String {
        let value = try file.string(metadataKey(key))
        guard allowed.contains(value) else {
            throw ModelError.invalidMetadata(path: file.path, key: metadataKey(key),
                                             reason: "\"\(value)\" is not one of \(allowed.joined(separator: ", "))")
        }
        return value
    }

    /// A boolean metadata value.
    public func bool(_ key: String) throws -> Bool { try file.bool(metadataKey(key)) }

    /// An integer array metadata value with `count` elements, each within `range`.
    public func ints(_ key: String, count: Int, in range: ClosedRange<Int> = 1...(1 << 30)) throws -> [Int] {
        let full = metadataKey(key)
        let values: [Int]
        switch try file.value(full) {
        case .array(_, let elements):
            values = try elements.map { element in
                guard let v = element.integerValue else {
                    throw ModelError.invalidMetadata(path: file.path, key: full, reason: "expected an array of integers")
                }
                return v
            }
        default:
            throw ModelError.invalidMetadata(path: file.path, key: full, reason: "expected an array of integers")
        }
        guard values.count == count, values.allSatisfy({ range.contains($0) }) else {
            throw ModelError.invalidMetadata(path: file.path, key: full,
                                             reason: "expected \(count) integers in \(range.lowerBound)...\(range.upperBound), got \(values)")
        }
        return values
    }

    /// A float array metadata value with `count` finite elements.
    public func floats(_ key: String, count: Int) throws -> [Float] {
        let full = metadataKey(key)
        guard case .array(_, let elements) = try file.value(full) else {
            throw ModelError.invalidMetadata(path: file.path, key: full, reason: "expected an array of \(count) floats")
        }
        let values: [Float] = elements.compactMap {
            switch $0 {
            case .float32(let v): return v
            case .float64(let v): return Float(v)
            default: return nil
            }
        }
        guard values.count == count, elements.count == count, values.allSatisfy({ $0.isFinite }) else {
            throw ModelError.invalidMetadata(path: file.path, key: full, reason: "expected \(count) finite floats")
        }
        return values
    }

    /// The tensor `<component>.<name>` with the given ggml-order shape, of one of `types`.
    public func tensor(_ name: String, shape: [Int], types: [GGMLType]) throws -> GGUFTensor {
        let full = "\(component).\(name)"
        let t = try file.tensor(full)
        guard types.contains(t.type) else {
            throw ModelError.unsupportedTensorType(path: file.path, tensor: full, type: "\(t.type)",
                                                   allowed: types.map { "\($0)" }.joined(separator: " or "))
        }
        guard Array(t.shape) == shape else {
            throw ModelError.tensorShape(path: file.path, tensor: full, expected: "\(shape)", actual: "\(Array(t.shape))")
        }
        return t
    }

    /// An F32 vector `<component>.<name>` of `count` values (norm weights, biases, embeddings).
    public func vector(_ name: String, count: Int) throws -> UnsafePointer<Float> {
        try tensor(name, shape: [count], types: [.f32]).f32.baseAddress!
    }
}

extension GGUFMetadataValue {
    /// The value of any integer case, if it fits an Int.
    var integerValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(exactly: v)
        default: return nil
        }
    }
}
