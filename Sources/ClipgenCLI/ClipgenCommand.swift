// The `clipgen` command line.

import ArgumentParser

@main
struct ClipgenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipgen",
        abstract: "CLIP-GEN text-to-image on small Linux machines.",
        version: clipgenVersion,
        subcommands: [GenerateCommand.self, TokenizeCommand.self, EmbedCommand.self, SampleCommand.self,
                      DecodeCommand.self, InspectCommand.self, BenchCommand.self])
}

/// The version written into outputs and printed by `clipgen --version`.
let clipgenVersion = "0.1.0-dev"

/// Turns a `--threads` value into a thread count, rejecting 0 and negatives with a clear message.
func validatedThreads(_ threads: Int?) throws -> Int? {
    if let threads, threads < 1 {
        throw ValidationError("--threads must be at least 1 (got \(threads)); omit it to use every physical core")
    }
    return threads
}
