// Options shared by the commands that run a model: which file, how many threads, the sampler.

import ArgumentParser
import ClipgenKernels
import ClipgenPipeline
import Foundation

/// `--model` and `--threads`, and finding the bundled default model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model file made by clipgen-convert (default: the bundled models/clipgen-default.gguf).")
    var model: String?

    @Option(help: "Threads (default: usable physical cores).")
    var threads: Int?

    @Option(name: .customLong("kv-cache"), help: "Precision of the transformer's KV cache: f16 (default) or f32.")
    var kvCache = "f16"

    func validate() throws {
        _ = try validatedThreads(threads)
        if !["f16", "f32"].contains(kvCache) { throw InputError("--kv-cache must be f16 or f32 (got \(kvCache))") }
    }

    var cachePrecision: KVCachePrecision { kvCache == "f32" ? .f32 : .f16 }

    /// The model file to use: --model, else the bundled default (DefaultModel: $CLIPGEN_MODEL, the working
    /// directory, above the executable, the source checkout).
    func modelPath() throws -> String {
        if let model { return model }
        do {
            return try DefaultModel.path()
        } catch let error as GenerationError {
            throw InputError(error.description)
        }
    }

    func generator() throws -> Generator {
        let generator = try Generator(modelPath: modelPath(), threads: threads)
        generator.kvCache = cachePrecision
        return generator
    }
}

/// `--seed`, `--top-k`, `--top-p`, `--temperature`, `--guidance`.
struct SamplerOptions: ParsableArguments {
    @Option(help: "Seed of the token sampler (same seed, prompt, settings and model: same image).")
    var seed: UInt64 = 0

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (1 = greedy, 0 = no limit).")
    var topK = SamplerSettings().topK

    @Option(name: .customLong("top-p"), help: "Sample among the most likely tokens holding this much probability (0, 1].")
    var topP = SamplerSettings().topP

    @Option(help: "Divide the logits by this before sampling (> 0; lower is more conservative).")
    var temperature = SamplerSettings().temperature

    @Option(help: ArgumentHelp("Classifier-free guidance scale (1 = off; above 1 follows the prompt more closely "
                               + "at twice the sampling work; needs a transformer trained with --cond-drop)."))
    var guidance = SamplerSettings().guidance

    var settings: SamplerSettings { SamplerSettings(topK: topK, topP: topP, temperature: temperature, guidance: guidance) }

    func validate() throws {
        if let problem = settings.problem { throw InputError(problem) }
    }
}

/// Rejects command-line arguments that are not valid UTF-8 (Swift would silently replace the bad bytes).
func requireUTF8Arguments() throws {
    for i in 1..<Int(CommandLine.argc) {
        guard let raw = CommandLine.unsafeArgv[i] else { continue }
        if String(validatingCString: raw) == nil {
            throw InputError("argument \(i) is not valid UTF-8 text")
        }
    }
}

/// Writes a JSON object to stdout, keys sorted.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// A one-line progress bar on stderr, only when stderr is a terminal.
struct ProgressBar {
    let enabled = isatty(STDERR_FILENO) == 1
    func update(_ label: String, _ fraction: Double) {
        guard enabled else { return }
        let width = 30, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label.padding(toLength: 8, withPad: " ", startingAt: 0)) [\(bar)] \(Int(fraction * 100))%".utf8))
        if fraction >= 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
