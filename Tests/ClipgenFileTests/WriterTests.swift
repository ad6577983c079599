// GGUFWriter: input validation (nothing invalid is written) and atomic replacement.

import ClipgenFile
import Foundation
import Testing

@Suite struct WriterTests {
    let dir = ScratchDirectory()

    /// The reason of the invalidWriterInput error from writing `w`, or nil.
    func rejection(_ w: GGUFWriter, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let path = dir.file("bad.gguf")
        do {
            try w.write(to: path)
            Issue.record("expected the writer to refuse", sourceLocation: sourceLocation)
        } catch let GGUFError.invalidWriterInput(p, reason) {
            #expect(p == path, sourceLocation: sourceLocation)
            #expect(dir.contents.isEmpty, "nothing written: \(dir.contents)", sourceLocation: sourceLocation)
            return reason
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func rejectsInvalidInput() {
        var w = GGUFWriter()
        w.add("k", .uint8(1)); w.add("k", .uint8(2))
        #expect(rejection(w)?.contains("duplicate metadata key 'k'") == true)

        w = GGUFWriter(); w.add("k", .array(.array, []))
        #expect(rejection(w)?.contains("array of arrays") == true)

        w = GGUFWriter(); w.add("k", .array(.uint8, [.uint8(1), .int8(1)]))
        #expect(rejection(w)?.contains("not all uint8") == true)

        w = GGUFWriter(); w.addTensor("t", shape: [1], f32: [1]); w.addTensor("t", shape: [1], f32: [1])
        #expect(rejection(w)?.contains("duplicate tensor name 't'") == true)

        w = GGUFWriter(); w.addTensor("t", shape: [3], f32: [1, 2])
        #expect(rejection(w)?.contains("needs 12 bytes, got 8") == true)

        w = GGUFWriter(); w.addTensor("t", shape: [1, 1, 1, 1, 1], f32: [1])
        #expect(rejection(w)?.contains("1...4 positive dimensions") == true)

        w = GGUFWriter(); w.addTensor("t", shape: [0], f32: [])
        #expect(rejection(w)?.contains("1...4 positive dimensions") == true)

        w = GGUFWriter(); w.addTensor("q", type: .q8_0, shape: [16], bytes: [UInt8](repeating: 0, count: 17))
        #expect(rejection(w)?.contains("not a multiple of 32") == true)

        w = GGUFWriter(); w.addTensor(String(repeating: "n", count: 64), shape: [1], f32: [1])
        #expect(rejection(w)?.contains("longer than 63 bytes") == true)

        #expect(rejection(GGUFWriter(alignment: 48))?.contains("power of two") == true)
        #expect(rejection(GGUFWriter(alignment: 2))?.contains("power of two") == true)

        w = GGUFWriter(alignment: 64); w.add("general.alignment", .uint32(32))
        #expect(rejection(w)?.contains("disagrees") == true)
    }

    @Test func explicitAlignmentKeyIsKept() throws {
        var w = GGUFWriter(alignment: 64)
        w.add("general.alignment", .uint32(64))
        let path = dir.file("a.gguf")
        try w.write(to: path)
        #expect(try GGUFFile(path: path).metadataKeys == ["general.alignment"])
    }

    @Test func replacesExistingFileAtomically() throws {
        let path = dir.file("model.gguf")
        try sampleWriter().write(to: path)
        var w = GGUFWriter()
        w.add("version", .uint32(2))
        try w.write(to: path)
        #expect(try GGUFFile(path: path).uint32("version") == 2)
        #expect(dir.contents == ["model.gguf"], "no temporary files left: \(dir.contents)")
    }

    @Test func failedRenameRemovesTemporaryFile() throws {
        // Renaming a file over a non-empty directory fails after all data was written.
        let target = dir.file("occupied")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: target + "/keep", contents: Data([1]))
        let error = #expect(throws: GGUFError.self) { try sampleWriter().write(to: target) }
        guard case .writeFailed(target, let operation, _) = error else {
            Issue.record("expected writeFailed, got \(String(describing: error))"); return
        }
        #expect(operation.hasPrefix("rename"))
        #expect(dir.contents == ["occupied"], "temporary file removed: \(dir.contents)")
    }

    @Test func missingDirectoryFailsCleanly() {
        let path = dir.file("no/such/dir/model.gguf")
        let error = #expect(throws: GGUFError.self) { try sampleWriter().write(to: path) }
        #expect(error?.description.hasPrefix(path) == true)
    }

    @Test func relativePath() throws {
        let old = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(dir.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(old) }
        try sampleWriter().write(to: "relative.gguf")
        #expect(try GGUFFile(path: dir.file("relative.gguf")).tensorCount == 3)
    }
}
