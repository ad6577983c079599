// Finding the bundled default model (models/clipgen-default.gguf, trained by clipgen-train; docs/TRAINING.md), so
// that a program or the CLI can generate without naming a file.

import Foundation

/// Where the bundled default model is looked for, in order:
/// 1. `$CLIPGEN_MODEL` when set (taken as given: a wrong path is the user's error, reported by the loader);
/// 2. `models/clipgen-default.gguf` under the working directory;
/// 3. the same under the executable's folder and up to four folders above it (a checkout's `.build/release`);
/// 4. the same in the source checkout this module was compiled from (also when clipgen is a package dependency:
///    SwiftPM keeps the checkout under `.build/checkouts`).
public enum DefaultModel {
    public static let relativePath = "models/clipgen-default.gguf"

    /// The places searched, in order (the environment variable's value first when it is set and not empty).
    public static func candidates(environment: [String: String] = ProcessInfo.processInfo.environment,
                                  workingDirectory: String = FileManager.default.currentDirectoryPath,
                                  executable: String = CommandLine.arguments.first ?? "",
                                  sourceFile: String = #filePath) -> [String] {
        if let path = environment["CLIPGEN_MODEL"], !path.isEmpty { return [path] }
        var found = [URL(fileURLWithPath: workingDirectory).appendingPathComponent(relativePath).path]
        if !executable.isEmpty {
            var directory = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<5 {
                found.append(directory.appendingPathComponent(relativePath).path)
                directory.deleteLastPathComponent()
            }
        }
        // sourceFile is <root>/Sources/ClipgenPipeline/DefaultModel.swift
        let root = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        found.append(root.appendingPathComponent(relativePath).path)
        var seen = Set<String>()
        return found.filter { seen.insert($0).inserted }
    }

    /// The first candidate that exists (or `$CLIPGEN_MODEL` as given).
    /// - Throws: `GenerationError.noDefaultModel` naming what was searched.
    public static func path() throws -> String {
        let places = candidates()
        if ProcessInfo.processInfo.environment["CLIPGEN_MODEL"].map({ !$0.isEmpty }) == true { return places[0] }
        if let path = places.first(where: { FileManager.default.fileExists(atPath: $0) }) { return path }
        throw GenerationError.noDefaultModel(searched: places)
    }
}
