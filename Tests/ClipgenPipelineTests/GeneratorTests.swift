// The pipeline end to end on a converter-made tiny model (Tests/Fixtures/make_parity_fixture.py): the same seed
// gives byte-identical PNGs at 1, 2 and 3 threads; `clipgen generate` writes a PNG whose text entries Python's PIL
// reads back; bad requests are refused with a message and write nothing. Needs $CLIPGEN_PYTHON with the converter
// (scripts/test sets it); skipped without it locally, failing under CI.
import ClipgenImage
import ClipgenPipeline
import Foundation
import Testing

/// The converted tiny model, made once per test process.
private let fixture: Result<String, Error>? = {
    guard let python = ProcessInfo.processInfo.environment["CLIPGEN_PYTHON"], !python.isEmpty else { return nil }
    return Result {
        let directory = NSTemporaryDirectory() + "clipgen-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/make_parity_fixture.py").path
        try run(python, [script, directory])
        return directory
    }
}()

private struct CommandFailed: Error, CustomStringConvertible { let description: String }

/// Runs a program; returns its stdout, throws with its stderr when it fails.
@discardableResult
private func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(description: "\(executable) exited \(process.terminationStatus): " + String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: output, as: UTF8.self)
}

/// The fixture directory, or nil to skip (no Python outside CI).
private func fixtureDirectory() throws -> String? {
    guard let fixture else {
        let ci = ProcessInfo.processInfo.environment["CI"].map { !["", "0", "false"].contains($0) } ?? false
        #expect(!ci, "CLIPGEN_PYTHON must be set under CI: the pipeline tests need the converter")
        return nil
    }
    return try fixture.get()
}

/// Serialized: the README test changes the working directory, which the others must not see mid-run.
@Suite(.serialized) struct GeneratorTests {
    @Test func sameSeedGivesIdenticalPNGsAtAnyThreadCount() throws {
        guard let directory = try fixtureDirectory() else { return }
        let request = GenerationRequest(prompt: "a green triangle above a yellow circle", seed: 1234, candidates: 3, keep: 3)
        var encoded: [[[UInt8]]] = []
        for threads in [1, 2, 3] {
            let generator = try Generator(modelPath: directory + "/q8_0.gguf", threads: threads)
            let result = try generator.generate(request)
            encoded.append(try result.images.map {
                try PNG.encode($0.image, text: generator.pngText(for: $0, request: request, version: "test"))
            })
        }
        #expect(encoded[0] == encoded[1] && encoded[0] == encoded[2], "PNG bytes depend on the thread count")
        #expect(Set(encoded[0]).count == 3, "three candidates from different random streams should differ")
        // And a different seed changes the images.
        let generator = try Generator(modelPath: directory + "/q8_0.gguf", threads: 2)
        let seeded = try generator.generate(GenerationRequest(prompt: request.prompt, seed: 1234))
        let other = try generator.generate(GenerationRequest(prompt: request.prompt, seed: 1235))
        #expect(seeded.images[0].tokens != other.images[0].tokens)
    }

    @Test func rerankingKeepsTheBestCLIPScores() throws {
        guard let directory = try fixtureDirectory() else { return }
        let generator = try Generator(modelPath: directory + "/q8_0.gguf", threads: 2)
        #expect(generator.imageEncoder != nil, "the tiny synth model has CLIP's image tower")
        let all = try generator.generate(GenerationRequest(prompt: "a blue square", seed: 9, candidates: 5, keep: 5))
        let best = try generator.generate(GenerationRequest(prompt: "a blue square", seed: 9, candidates: 5, keep: 2))
        let scores = all.images.map { $0.score! }
        #expect(scores == scores.sorted(by: >), "candidates ranked best first")
        #expect(best.images.map(\.candidate) == Array(all.images.prefix(2).map(\.candidate)))
        #expect(Set(all.images.map(\.candidate)) == Set(0..<5))
        // A score is the cosine of two unit vectors.
        #expect(scores.allSatisfy { abs($0) <= 1.0001 })
        let plain = try generator.generate(GenerationRequest(prompt: "a blue square", seed: 9, candidates: 5, keep: 2,
                                                             rerank: false))
        #expect(plain.images.map(\.candidate) == [0, 1] && plain.images.allSatisfy { $0.score == nil })
        #expect(plain.images[0].tokens == all.images.first { $0.candidate == 0 }!.tokens, "reranking changes no sample")
    }

    /// Guidance mixes each candidate's conditioned row with its own unconditioned row: at scale 1 it is off (the
    /// very same samples as without it), at scale 0 only the unconditioned rows count, so the prompt cannot matter.
    @Test func guidanceMixesEachCandidateWithItsUnconditionedRow() throws {
        guard let directory = try fixtureDirectory() else { return }
        let generator = try Generator(modelPath: directory + "/q8_0.gguf", threads: 2)
        func grids(_ prompt: String, _ guidance: Double?) -> [[Int32]] {
            let settings = guidance.map { SamplerSettings(topK: 0, topP: 1, guidance: $0) } ?? SamplerSettings(topK: 0, topP: 1)
            return generator.sample(embedding: generator.embed(prompt), candidates: 3, seed: 77, settings: settings)
        }
        let red = grids("a red circle", nil)
        #expect(grids("a red circle", 1) == red)
        let blue = grids("a blue square on the left", nil)
        #expect(blue != red, "the prompt changes the samples")
        let (redOff, blueOff) = (grids("a red circle", 0), grids("a blue square on the left", 0))
        #expect(redOff == blueOff, "guidance 0 samples the unconditioned model: the prompt must not matter")
        #expect(redOff != red && Set(redOff).count == 3, "each candidate keeps its own random stream")
        let strong = grids("a red circle", 4)
        #expect(strong != red && strong != redOff)
    }

    @Test func badRequestsAreRefused() throws {
        guard let directory = try fixtureDirectory() else { return }
        let generator = try Generator(modelPath: directory + "/q8_0.gguf", threads: 1)
        for (request, message) in [(GenerationRequest(prompt: "   "), "the prompt is empty"),
                                   (GenerationRequest(prompt: "a", candidates: 0), "--candidates"),
                                   (GenerationRequest(prompt: "a", candidates: 2, keep: 3), "--keep"),
                                   (GenerationRequest(prompt: "a", sampler: SamplerSettings(temperature: -1)), "--temperature"),
                                   (GenerationRequest(prompt: "a", sampler: SamplerSettings(guidance: -1)), "--guidance"),
                                   (GenerationRequest(prompt: "a", sampler: SamplerSettings(guidance: .nan)), "--guidance")] {
            #expect(throws: GenerationError.self) { try generator.generate(request) }
            do { try generator.validate(request) } catch { #expect("\(error)".contains(message)) }
        }
        #expect(throws: GenerationError.self) { try generator.decode([1, 2, 3]) }
        #expect(throws: GenerationError.self) { try generator.decode([Int32](repeating: 100_000, count: 64)) }
    }

    /// `clipgen generate` itself (the executable built next to this test bundle) writes a PNG whose text entries PIL reads.
    @Test func generateCommandWritesPNGWithTextEntries() throws {
        guard let directory = try fixtureDirectory(), let python = ProcessInfo.processInfo.environment["CLIPGEN_PYTHON"] else { return }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("clipgen").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            Issue.record("clipgen executable not found next to the test bundle at \(executable); build it first (swift build -c release)")
            return
        }
        let out = directory + "/generated.png"
        try run(executable, ["generate", "ein grüner Kreis", "--model", directory + "/q8_0.gguf", "--seed", "7", "--out", out])
        let json = try run(python, ["-c", """
            import json, sys
            from PIL import Image
            im = Image.open(sys.argv[1]); im.load()
            print(json.dumps({"size": im.size, "text": dict(im.text)}))
            """, out])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let text = parsed?["text"] as? [String: String] ?? [:]
        #expect(text["prompt"] == "ein grüner Kreis")
        #expect(text["seed"] == "7")
        #expect(text["model"] == "q8_0.gguf")
        #expect(text["model_digest"]?.hasPrefix("clipgen64:") == true)
        #expect(text["sampler"]?.contains("top_k=500") == true)
        #expect(text["Software"]?.hasPrefix("clipgen ") == true)
        #expect(parsed?["size"] as? [Int] == [64, 64])
        // A bad request writes nothing.
        #expect(throws: CommandFailed.self) {
            try run(executable, ["generate", "x", "--model", directory + "/q8_0.gguf", "--candidates", "0", "--out", directory + "/no.png"])
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/no.png"))
    }

    /// `clipgen bench --model` runs end to end and its JSON carries every figure the README quotes.
    @Test func modelBenchPrintsEveryFigure() throws {
        guard let directory = try fixtureDirectory() else { return }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("clipgen").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            Issue.record("clipgen executable not found next to the test bundle at \(executable)")
            return
        }
        let json = try run(executable, ["bench", "--model", directory + "/q8_0.gguf", "--threads", "2", "--candidates", "2",
                                        "--repeats", "1", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
        for key in ["per_token_milliseconds", "decode_milliseconds", "rerank_milliseconds", "end_to_end_milliseconds",
                    "peak_rss_anon_bytes", "rss_file_bytes", "machine"] {
            #expect(report[key] != nil, "bench JSON lacks \(key)")
        }
        for key in ["mapped_read_gigabytes_per_second", "per_token_floor_milliseconds", "per_token_ratio_to_floor",
                    "transformer_weight_bytes"] {
            #expect((report[key] as? Double ?? 0) > 0, "bench JSON: \(key) = \(report[key] ?? "missing")")
        }
        #expect(report["guidance"] as? Double == 1)
        let guided = try run(executable, ["bench", "--model", directory + "/q8_0.gguf", "--threads", "1", "--repeats", "1",
                                          "--guidance", "3", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(guided.utf8)) as? [String: Any])?["guidance"] as? Double == 3)
    }

    /// README.md's "Generating from Swift" block, run in an empty folder so the example cannot rot: `Generator()`
    /// must find the bundled model from the source checkout.
    @Test func readmeGeneratorUsageRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clipgen-readme-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(directory)
        defer {
            FileManager.default.changeCurrentDirectoryPath(previous)
            try? FileManager.default.removeItem(atPath: directory)
        }

        // --- README block ---
        let generator = try Generator()                // the bundled model; Generator(modelPath:) for any other file
        let request = GenerationRequest(prompt: "a red circle", seed: 42, candidates: 4, keep: 1)
        let result = try generator.generate(request)                          // result.timings: ms per stage
        try PNG.write(result.images[0].image, to: "circle.png",
                      text: generator.pngText(for: result.images[0], request: request, version: "0.1.0"))
        // --- end ---

        #expect(FileManager.default.fileExists(atPath: "circle.png"))
        #expect(result.images.count == 1 && result.timings.total > 0)
        #expect(generator.modelPath.hasSuffix(DefaultModel.relativePath))
    }
}
