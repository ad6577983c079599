// `clipgen generate PROMPT`: the main job, prompt in, PNG out.

import ArgumentParser
import ClipgenImage
import ClipgenPipeline
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate images from a text prompt and write them as PNG.",
        discussion: """
            Samples --candidates token grids together, ranks them by the cosine of their CLIP image embedding with \
            the prompt's text embedding (when the model has CLIP's image tower; --no-rerank keeps sampling order) and \
            writes the best --keep of them (FILE, or FILE-1.png, FILE-2.png, ... when keeping several). Each PNG carries the prompt, seed, sampler settings, model file \
            name and digest and clipgen version as text entries.
            """)

    @Argument(help: "What to draw.")
    var prompt: String

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampler: SamplerOptions

    @Option(help: "Output PNG file.")
    var out = "clipgen.png"

    @Option(help: "Candidates sampled together (each weight read serves all of them).")
    var candidates = 1

    @Option(help: "Images written (the first N candidates; default: all).")
    var keep: Int?

    @Option(help: "Also write a contact sheet of every candidate to this PNG file.")
    var sheet: String?

    @Flag(name: .customLong("no-rerank"), help: "Keep candidates in sampling order instead of ranking them by CLIP score.")
    var noRerank = false

    @Flag(help: "Print per-stage timings and memory as JSON.")
    var json = false

    func validate() throws {
        try requireUTF8Arguments()
        if prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw InputError("the prompt is empty") }
        if candidates < 1 || candidates > 256 { throw InputError("--candidates must be in 1...256 (got \(candidates))") }
        if let keep, keep < 1 || keep > candidates {
            throw InputError("--keep must be in 1...\(candidates), the number of candidates (got \(keep))")
        }
        for path in [out] + (sheet.map { [$0] } ?? []) {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            if !FileManager.default.isWritableFile(atPath: directory) {
                throw InputError("cannot write \(path): directory \(directory) does not exist or is not writable")
            }
        }
    }

    func run() throws {
        let generator = try model.generator()
        let keepCount = keep ?? candidates
        let request = GenerationRequest(prompt: prompt, seed: sampler.seed, candidates: candidates,
                                        keep: sheet == nil ? keepCount : candidates, sampler: sampler.settings,
                                        rerank: !noRerank)
        let bar = ProgressBar()
        let result = try generator.generate(request) { stage, fraction in if !json { bar.update(stage, fraction) } }
        if result.truncatedTokens > 0 {
            FileHandle.standardError.write(Data("warning: the prompt is too long; its last \(result.truncatedTokens) tokens were dropped\n".utf8))
        }
        var written: [String] = []
        for image in result.images.prefix(keepCount) {
            let path = keepCount == 1 ? out : numbered(out, image.candidate + 1)
            try PNG.write(image.image, to: path, text: generator.pngText(for: image, request: request, version: clipgenVersion))
            written.append(path)
        }
        if let sheet {
            try PNG.write(RGBImage.contactSheet(result.images.map(\.image)), to: sheet,
                          text: [("Software", "clipgen \(clipgenVersion)"), ("prompt", prompt), ("seed", String(sampler.seed))])
            written.append(sheet)
        }
        if json {
            let t = result.timings
            var object: [String: Any] = [
                "prompt": prompt, "seed": sampler.seed, "candidates": candidates, "files": written,
                "ms": ["load": generator.loadSeconds * 1000, "tokenize": t.tokenize * 1000, "encode": t.encode * 1000,
                       "sample": t.sample * 1000, "per_token": t.perToken * 1000, "decode": t.decode * 1000,
                       "rerank": t.rerank * 1000, "total": t.total * 1000],
                "kept": result.images.prefix(keepCount).map { image -> [String: Any] in
                    var entry: [String: Any] = ["candidate": image.candidate]
                    if let score = image.score { entry["clip_score"] = Double(score) }
                    return entry
                },
                "truncated_tokens": result.truncatedTokens,
            ]
            if let m = result.memory {
                object["memory_bytes"] = ["rss_anon": m.anonymous, "rss_file": m.file, "peak_resident": m.peak]
            }
            try printJSON(object)
        } else {
            print(written.joined(separator: "\n"))
        }
    }
}

/// "out.png", 2 -> "out-2.png".
func numbered(_ path: String, _ n: Int) -> String {
    let url = URL(fileURLWithPath: path)
    let ext = url.pathExtension
    let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
    return "\(stem)-\(n)" + (ext.isEmpty ? "" : ".\(ext)")
}
