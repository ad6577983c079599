// `clipgen inspect FILE`: what a model file holds, as the runtime reads it.

import ArgumentParser
import ClipgenFile
import ClipgenModels
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Summarise a model file: components, configuration, tensors, metadata.")

    @Argument(help: "The model file.") var file: String

    func run() throws {
        let gguf = try GGUFFile(path: file)
        print("\(file): GGUF, \(MemoryReport.mebibytes(gguf.fileSize)), \(gguf.tensorCount) tensors, \(gguf.metadataKeys.count) metadata keys")
        let components = gguf.contains("clipgen.components") ? try gguf.stringArray("clipgen.components").map(\.string) : []
        print("components: \(components.isEmpty ? "none" : components.joined(separator: ", "))")
        // Tensors per component and storage type.
        var groups: [String: [String: (count: Int, bytes: Int)]] = [:]
        for t in gguf.tensors {
            let component = String(t.name.prefix { $0 != "." })
            groups[component, default: [:]]["\(t.type)", default: (0, 0)].count += 1
            groups[component, default: [:]]["\(t.type)", default: (0, 0)].bytes += t.byteCount
        }
        for (component, types) in groups.sorted(by: { $0.key < $1.key }) {
            let parts = types.sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key) (\(MemoryReport.mebibytes($0.value.bytes)))" }
            print("  \(component): " + parts.joined(separator: ", "))
        }
        // Each component's configuration, as the runtime validates it.
        if components.contains("clip") { print("clip text: \(try CLIPTextConfig(ComponentReader(gguf, component: "clip")))") }
        if components.contains("gpt") { print("gpt: \(try GPTConfig(ComponentReader(gguf, component: "gpt")))") }
        if components.contains("vqgan") { print("vqgan: \(try VQGANConfig(ComponentReader(gguf, component: "vqgan")))") }
        print("metadata:")
        for key in gguf.metadataKeys {
            let value = try gguf.value(key)
            var text: String
            if case .array(let type, let elements) = value, elements.count > 8 {
                text = "[\(elements.count) x \(type)] " + elements.prefix(3).map { "\($0)" }.joined(separator: ", ") + ", ..."
            } else {
                text = "\(value)"
            }
            if text.count > 120 { text = String(text.prefix(117)) + "..." }
            print("  \(key) = \(text)")
        }
    }
}
