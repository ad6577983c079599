// Stage commands for checking a conversion step by step; each prints JSON.

import ArgumentParser
import ClipgenImage
import ClipgenPipeline
import Foundation

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print a prompt's CLIP token ids (padded to the context length) as JSON.")

    @Argument(help: "The prompt.") var prompt: String
    @OptionGroup var model: ModelOptions

    func validate() throws { try requireUTF8Arguments() }

    func run() throws {
        let generator = try model.generator()
        let (ids, truncated) = generator.tokenize(prompt)
        let pieces = generator.tokenizer.tokens(prompt).map { generator.tokenizer.tokenText($0) ?? "?" }
        try printJSON(["prompt": prompt, "ids": ids.map(Int.init), "tokens": pieces, "truncated_tokens": truncated])
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Print a prompt's L2-normalised CLIP text embedding as JSON.")

    @Argument(help: "The prompt.") var prompt: String
    @OptionGroup var model: ModelOptions

    func validate() throws { try requireUTF8Arguments() }

    func run() throws {
        let generator = try model.generator()
        try printJSON(["prompt": prompt, "embedding": generator.embed(prompt).map(Double.init)])
    }
}

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample", abstract: "Print the token grid sampled for a prompt as JSON (--top-k 1 is greedy).")

    @Argument(help: "The prompt.") var prompt: String
    @OptionGroup var model: ModelOptions
    @OptionGroup var sampler: SamplerOptions

    func validate() throws { try requireUTF8Arguments() }

    func run() throws {
        let generator = try model.generator()
        let grid = generator.sample(embedding: generator.embed(prompt), candidates: 1, seed: sampler.seed,
                                    settings: sampler.settings)[0]
        let c = generator.transformer.config
        try printJSON(["prompt": prompt, "seed": sampler.seed, "grid": [c.gridHeight, c.gridWidth],
                       "tokens": grid.map(Int.init)])
    }
}

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Decode a token grid (JSON, as `clipgen sample` prints) to a PNG.")

    @Option(help: "JSON file with a \"tokens\" array (raster order), or a bare array.") var tokens: String
    @Option(help: "Output PNG file.") var out: String
    @OptionGroup var model: ModelOptions

    func run() throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: tokens)) } catch {
            throw InputError("cannot read --tokens \(tokens): \(error.localizedDescription)")
        }
        let parsed = try? JSONSerialization.jsonObject(with: data)
        let values = (parsed as? [String: Any])?["tokens"] ?? parsed
        guard let numbers = values as? [NSNumber], numbers.allSatisfy({ Double($0.int64Value) == $0.doubleValue }) else {
            throw InputError("\(tokens): expected a JSON array of integer token ids, or an object with one under \"tokens\"")
        }
        let generator = try model.generator()
        let ids = numbers.map { Int32(clamping: $0.int64Value) }
        let image: RGBImage
        do { image = try generator.decode(ids) } catch { throw InputError("\(tokens): \(error)") }
        try PNG.write(image, to: out, text: [("Software", "clipgen \(clipgenVersion)"), ("tokens", tokens)])
        try printJSON(["out": out, "width": image.width, "height": image.height])
    }
}
