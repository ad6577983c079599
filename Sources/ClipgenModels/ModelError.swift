// Errors of the model layer: a model file that parses as GGUF but does not describe a model the runtime can run.

/// What is wrong with a model file's architecture metadata or weights, naming the file and the key or tensor.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A component (`clip`, `gpt`, `vqgan`) the caller needs is not in the file.
    case missingComponent(path: String, component: String)
    /// A metadata value is present but unusable (out of range, inconsistent with another value or a tensor).
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor's type is not one the runtime computes with for that role.
    case unsupportedTensorType(path: String, tensor: String, type: String, allowed: String)
    /// A tensor has the wrong shape for the configuration (shapes in ggml order).
    case tensorShape(path: String, tensor: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case .missingComponent(let path, let component):
            return "\(path): the model file has no '\(component)' component (clipgen.components does not list it)"
        case .invalidMetadata(let path, let key, let reason):
            return "\(path): metadata '\(key)': \(reason)"
        case .unsupportedTensorType(let path, let tensor, let type, let allowed):
            return "\(path): tensor '\(tensor)' is \(type); expected \(allowed)"
        case .tensorShape(let path, let tensor, let expected, let actual):
            return "\(path): tensor '\(tensor)' has shape \(actual), expected \(expected) (ggml order, fastest first)"
        }
    }
}
