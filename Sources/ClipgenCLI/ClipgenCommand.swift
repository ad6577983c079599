// The `clipgen` command line.

import ArgumentParser
import Foundation

@main
struct ClipgenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipgen",
        abstract: "CLIP-GEN text-to-image on small Linux machines.",
        version: clipgenVersion,
        subcommands: [GenerateCommand.self, TokenizeCommand.self, EmbedCommand.self, SampleCommand.self,
                      DecodeCommand.self, InspectCommand.self, BenchCommand.self])

    /// Parses and runs the command; every failure is one line on stderr and a non-zero exit status.
    ///
    /// ArgumentParser's own `main()` follows a malformed command line (an unknown option, a value that does not
    /// parse, a missing argument) with the usage text; here the usage is replaced by a pointer to `--help` on the
    /// same line. Help and version requests print as usual and exit 0.
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            fail(error, malformed: true)
        }
        do {
            var command = command
            try command.run()
        } catch {
            fail(error, malformed: false)
        }
    }

    /// Prints `Error: <first line of ArgumentParser's message>` (plus a `--help` pointer for a malformed command
    /// line) and exits with ArgumentParser's code for the error; help and version requests go to `exit(withError:)`.
    private static func fail(_ error: Error, malformed: Bool) -> Never {
        let code = exitCode(for: error)
        if code == .success { exit(withError: error) }  // --help, --version: printed in full
        guard var line = message(for: error).split(separator: "\n", omittingEmptySubsequences: true).first
            .map(String.init) else { Foundation.exit(code.rawValue) }  // a bare ExitCode: nothing to say
        if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
        if malformed {
            let sub = CommandLine.arguments.dropFirst().first { !$0.hasPrefix("-") }
            let known = configuration.subcommands.map { $0._commandName }
            let help = sub.map { known.contains($0) ? "clipgen \($0) --help" : "clipgen --help" } ?? "clipgen --help"
            line += " (see '\(help)')"
        }
        FileHandle.standardError.write(Data("Error: \(line)\n".utf8))
        Foundation.exit(code.rawValue)
    }
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
