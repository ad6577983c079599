// Parity of the Swift models with the float PyTorch reference on converter-made files (tiny random checkpoints in
// the native layouts, converted to F32 and Q8_0 by clipgen-convert). The
// reference forwards are the converter's, which its own tests hold to open_clip, taming and PyTorch's
// TransformerEncoderLayer. Needs $CLIPGEN_PYTHON with the converter installed (scripts/test sets it); without it
// the tests are skipped locally and fail under CI.
import ClipgenFile
import ClipgenKernels
import ClipgenModels
import ClipgenThreads
import Foundation
import Testing

/// The fixture, made once per test process.
private final class ParityFixture: @unchecked Sendable {
    let directory: ScratchDirectory
    let reference: Reference

    struct Reference: Decodable {
        let prompts: [String]
        let ids: [[Int32]]
        let text_embeddings: [[Float]]
        let greedy_tokens: [Int32]
        let first_logits: [Float]
        let images_hwc: [[Float]]
        let image_embeddings: [[Float]]
        let vqgan_codes: [Int32]
        let vqgan_image_hwc: [Float]
    }

    static let shared: Result<ParityFixture, Error>? = {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["CLIPGEN_PYTHON"], !python.isEmpty else { return nil }
        return Result { try ParityFixture(python: python) }
    }()

    init(python: String) throws {
        directory = try ScratchDirectory()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/make_parity_fixture.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, directory.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(description: "make_parity_fixture.py failed:\n" + String(decoding: message, as: UTF8.self))
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: directory.file("reference.json")))
        reference = try JSONDecoder().decode(Reference.self, from: data)
    }

    struct FixtureError: Error, CustomStringConvertible { let description: String }

    /// The fixture, or nil when the tests should be skipped (no Python outside CI).
    static func get() throws -> ParityFixture? {
        guard let shared else {
            let ci = ProcessInfo.processInfo.environment["CI"].map { !["", "0", "false"].contains($0) } ?? false
            #expect(!ci, "CLIPGEN_PYTHON must be set under CI: the parity tests need the converter")
            return nil
        }
        return try shared.get()
    }
}

private func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices { dot += Double(a[i]) * Double(b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i]) }
    return dot / (na * nb).squareRoot()
}

/// PSNR on the 8-bit scale of two decoder outputs (x * 0.5 + 0.5) * 255, unclamped: saturation cannot hide errors.
private func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var squared = 0.0
    for i in a.indices { let d = Double(a[i] - b[i]) * 127.5; squared += d * d }
    return 10 * log10(255 * 255 / (squared / Double(a.count)))
}

@Test func tokenizerReadFromTheFileMatchesTheConverter() throws {
    guard let fixture = try ParityFixture.get() else { return }
    let tokenizer = try CLIPTokenizer(file: try GGUFFile(path: fixture.directory.file("q8_0.gguf")))
    for (i, prompt) in fixture.reference.prompts.enumerated() {
        #expect(tokenizer.encode(prompt) == fixture.reference.ids[i], "prompt \"\(prompt)\"")
    }
}

@Test(arguments: [("f32", 0.999), ("q8_0", 0.995)])
func textEmbeddingMatchesPyTorch(file: String, threshold: Double) throws {
    guard let fixture = try ParityFixture.get() else { return }
    let encoder = try CLIPTextEncoder(file: try GGUFFile(path: fixture.directory.file("\(file).gguf")))
    let pool = ThreadPool(threads: 2)
    for (i, ids) in fixture.reference.ids.enumerated() {
        let c = cosine(encoder.encode(ids, pool: pool), fixture.reference.text_embeddings[i])
        print("CLIP text \(file), prompt \(i): cosine \(c)")
        #expect(c >= threshold, "prompt \"\(fixture.reference.prompts[i])\": cosine \(c)")
    }
}

@Test(arguments: [("f32", 0.999), ("q8_0", 0.995)])
func imageEmbeddingMatchesPyTorch(file: String, threshold: Double) throws {
    guard let fixture = try ParityFixture.get() else { return }
    let encoder = try CLIPImageEncoder(file: try GGUFFile(path: fixture.directory.file("\(file).gguf")))
    for (i, image) in fixture.reference.images_hwc.enumerated() {
        let c = cosine(encoder.encode(image, pool: ThreadPool(threads: 2)), fixture.reference.image_embeddings[i])
        print("CLIP image \(file), image \(i): cosine \(c)")
        #expect(c >= threshold, "image \(i): cosine \(c)")
    }
}

@Test func greedyTokensOfF32FileMatchPyTorch() throws {
    guard let fixture = try ParityFixture.get() else { return }
    let pool = ThreadPool(threads: 2)
    for (file, cache) in [("f32", KVCachePrecision.f32), ("f32", .f16), ("q8_0", .f16)] {
        let model = try GPT(file: try GGUFFile(path: fixture.directory.file("\(file).gguf")))
        let vocab = model.config.vocabSize, count = model.config.tokensPerImage
        let state = model.makeState(candidates: 1, cache: cache)
        var logits = [Float](repeating: 0, count: vocab)
        fixture.reference.text_embeddings[0].withUnsafeBufferPointer { c in
            logits.withUnsafeMutableBufferPointer { model.start(state, conditions: c.baseAddress!, logits: $0.baseAddress!, pool: pool) }
        }
        if file == "f32" && cache == .f32 {
            let worst = zip(logits, fixture.reference.first_logits).map { abs($0 - $1) }.max()!
            let scale = fixture.reference.first_logits.map { abs($0) }.max()!
            #expect(worst <= 1e-4 * scale, "first-position logits differ by \(worst) (scale \(scale))")
        }
        var tokens: [Int32] = []
        while tokens.count < count {
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            tokens.append(Int32(best))
            if tokens.count < count {
                [Int32(best)].withUnsafeBufferPointer { t in
                    logits.withUnsafeMutableBufferPointer { model.step(state, tokens: t.baseAddress!, logits: $0.baseAddress!, pool: pool) }
                }
            }
        }
        let agreement = Double(zip(tokens, fixture.reference.greedy_tokens).filter { $0 == $1 }.count) / Double(count)
        print("GPT \(file), \(cache) KV cache: greedy tokens agree with PyTorch on \(agreement * 100)% of the \(count)-token grid")
        if file == "f32" && cache == .f32 { #expect(tokens == fixture.reference.greedy_tokens) }
    }
}

@Test(arguments: [("f32", 40.0), ("q8_0", 35.0)])
func vqganDecodeMatchesPyTorch(file: String, threshold: Double) throws {
    guard let fixture = try ParityFixture.get() else { return }
    let decoder = try VQGANDecoder(file: try GGUFFile(path: fixture.directory.file("\(file).gguf")))
    let image = decoder.decodeToFloats(fixture.reference.vqgan_codes, pool: ThreadPool(threads: 2))
    let p = psnr(image, fixture.reference.vqgan_image_hwc)
    print("VQGAN \(file): PSNR \(p) dB against PyTorch")
    #expect(image.count == fixture.reference.vqgan_image_hwc.count)
    #expect(p >= threshold)
}
