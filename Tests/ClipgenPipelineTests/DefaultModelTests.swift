import ClipgenPipeline
import Foundation
import Testing

@Suite struct DefaultModelTests {
    @Test func environmentVariableWinsAndIsTakenAsGiven() {
        let places = DefaultModel.candidates(environment: ["CLIPGEN_MODEL": "/x/my.gguf"], workingDirectory: "/w",
                                             executable: "/a/b/clipgen", sourceFile: "/src/Sources/P/F.swift")
        #expect(places == ["/x/my.gguf"])
    }

    @Test func searchOrderIsWorkingDirectoryThenAboveTheExecutableThenTheSourceCheckout() {
        let places = DefaultModel.candidates(environment: ["CLIPGEN_MODEL": ""], workingDirectory: "/w",
                                             executable: "/r/.build/release/clipgen",
                                             sourceFile: "/src/Sources/ClipgenPipeline/DefaultModel.swift")
        let m = DefaultModel.relativePath
        #expect(places == ["/w/\(m)", "/r/.build/release/\(m)", "/r/.build/\(m)", "/r/\(m)", "/\(m)",
                           "/src/\(m)"])
    }

    @Test func thisCheckoutsBundledModelIsFoundFromTheSourceTree() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let bundled = root.appendingPathComponent(DefaultModel.relativePath).path
        let places = DefaultModel.candidates(environment: [:], workingDirectory: "/nonexistent", executable: "")
        #expect(places.last == bundled)
    }

    @Test func missingDefaultModelErrorNamesEveryPlaceSearched() {
        let error = GenerationError.noDefaultModel(searched: ["/a/m.gguf", "/b/m.gguf"])
        #expect(error.description.contains("/a/m.gguf, /b/m.gguf"))
        #expect(error.description.contains("CLIPGEN_MODEL"))
    }
}
