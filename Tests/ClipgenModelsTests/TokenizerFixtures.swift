// What the tokenizer tests read: the goldens committed in Goldens/, and the CLIP vocabulary as a model file
// written at test time by Goldens/make_tokenizer_goldens.py through $CLIPGEN_PYTHON, from the converter's own
// tokenizer tables (gguf-py, the converter and the open_clip_torch wheel's bpe_simple_vocab_16e6.txt.gz; no
// multi-MB binary in the repository). Without CLIPGEN_PYTHON the vocabulary tests are skipped locally and fail
// under CI.

import ClipgenFile
import ClipgenModels
import Foundation
import Testing

enum TokenizerFixtures {
    static let environment = ProcessInfo.processInfo.environment
    static let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Goldens")
    static let script = goldens.appendingPathComponent("make_tokenizer_goldens.py").path
    static let python: String? = environment["CLIPGEN_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = environment["CI"].map { !["", "0", "false"].contains($0.lowercased()) } ?? false
    /// CLIPGEN_RECORD_GOLDENS=1 re-records the goldens with open_clip and fails the run.
    static let recording = environment["CLIPGEN_RECORD_GOLDENS"].map { !["", "0"].contains($0) } ?? false
    static let vocabularyTestsEnabled = python != nil || isCI
    static let skipMessage: Comment = """
        CLIPGEN_PYTHON is not set: CLIP tokenizer golden tests SKIPPED. They need a Python with gguf, the converter \
        and open_clip_torch (for its vocabulary file); scripts/test sets CLIPGEN_PYTHON. Under CI=true they fail instead.
        """

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs the golden script with `arguments`; throws with its output when it fails.
    static func runScript(_ arguments: [String]) throws {
        guard let python else { throw Failure(description: "CLIPGEN_PYTHON must be set (CI is set)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script] + arguments
        let output = Pipe()
        p.standardOutput = output
        p.standardError = output
        try p.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "\(python) \(script) \(arguments.joined(separator: " ")) failed:\n\(text)")
        }
    }

    /// The tokenizer read from the CLIP vocabulary written as a model file (once per test process; the file is
    /// removed after loading), with the milliseconds that opening the file and building the tokenizer took.
    static let tokenizer: Result<(CLIPTokenizer, openMS: Double, buildMS: Double), Error> = Result {
        let path = NSTemporaryDirectory() + "clipgen-tokenizer-\(getpid()).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try runScript(["fixture", path])
        let start = DispatchTime.now().uptimeNanoseconds
        let file = try GGUFFile(path: path)
        let opened = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try CLIPTokenizer(file: file)
        let built = DispatchTime.now().uptimeNanoseconds
        return (tokenizer, Double(opened - start) / 1e6, Double(built - opened) / 1e6)
    }

    /// A committed JSON file from Goldens/.
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: goldens.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}
