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

/// A bad value on the command line (or a bad file it names). Thrown instead of ArgumentParser's ValidationError so
/// that the user sees one line, `Error: <what is wrong>`, and exit status 1, without the usage text: the option names
/// are in the message. Malformed command lines (unknown options, missing arguments) still print the usage.
struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Turns a `--threads` value into a thread count, rejecting 0 and negatives with a clear message.
func validatedThreads(_ threads: Int?) throws -> Int? {
    if let threads, threads < 1 {
        throw InputError("--threads must be at least 1 (got \(threads)); omit it to use every physical core")
    }
    return threads
}
