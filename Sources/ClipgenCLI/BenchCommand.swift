// `clipgen bench ...`: benchmarks that print figures, medians and ratios against a baseline run alongside.

import ArgumentParser
import ClipgenBench
import ClipgenPipeline
import ClipgenThreads
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure clipgen's speed on this machine.",
        subcommands: [ModelBenchCommand.self, KernelsCommand.self, ConvCommand.self],
        defaultSubcommand: ModelBenchCommand.self)
}

struct ModelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time every stage of generation on a model file (the default of `clipgen bench`).",
        discussion: """
            Loads the model, then repeats one generation (tokenize, text encode, sample --candidates token grids             together, decode one) and prints the median, min and max of each stage, positions per second, the rate             the transformer's weights stream at, peak RssAnon (runtime memory) and RssFile (mapped weights), and             a machine line.
            """)

    @OptionGroup var model: ModelOptions

    @OptionGroup var bench: BenchRunOptions

    @Option(help: "Candidates sampled together.")
    var candidates = 1

    @Option(help: "Classifier-free guidance scale sampled with (1 = off; else twice the transformer work).")
    var guidance = SamplerSettings().guidance

    func validate() throws {
        if candidates < 1 || candidates > 256 { throw InputError("--candidates must be in 1...256 (got \(candidates))") }
        if let problem = SamplerSettings(guidance: guidance).problem { throw InputError(problem) }
    }

    func run() throws {
        let benchmark = ModelBenchmark(modelPath: try model.modelPath(), threads: model.threads, candidates: candidates,
                                       repeats: bench.repeats, prompt: bench.prompt, kvCache: model.cachePrecision,
                                       guidance: guidance)
        let report = try benchmark.run(progress: bench.progressLines)
        try bench.print(report, table: report.table)
    }
}

/// `--repeats`, `--prompt` and `--json` of the benchmarks that run a model, and how they report.
struct BenchRunOptions: ParsableArguments {
    @Option(help: "Timed runs (medians are reported).")
    var repeats = 5

    @Option(help: "The prompt generated from.")
    var prompt = "a red circle on a blue background"

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        if repeats < 1 { throw InputError("--repeats must be at least 1 (got \(repeats))") }
    }

    /// Progress lines go to stderr, unless the output is JSON.
    var progressLines: (String) -> Void {
        let json = self.json
        return { line in if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
    }

    /// The report as pretty JSON (snake_case keys) on stdout, or its table.
    func print<Report: Encodable>(_ report: Report, table: String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            Swift.print(table)
        }
    }
}

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Memory bandwidth of a mapped weight file, Q8_0 GEMV and F32 GEMM throughput.",
        discussion: """
            Writes a scratch file (default 1 GiB, far beyond the last-level cache) into --dir, maps it read-only \
            as model weights are mapped, and measures: the sequential read bandwidth of that mapping, Q8_0 \
            matrix-vector products streaming from it (rotating through the file so weights come from DRAM), their \
            ratio to the read bandwidth, F32 GEMM GFLOP/s, and the thread pool's cost per parallel loop. \
            The file is unlinked at once and gone when the command ends.
            """)

    @Option(help: "Threads (default: physical cores).")
    var threads: Int?

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Scratch weight file size in MiB (>= 64; default 1024).")
    var fileMib = 1024

    @Option(help: "Directory for the scratch file (default: $TMPDIR or /tmp).")
    var dir: String?

    @Option(help: "Timed repetitions per figure (the median is reported).")
    var repeats = 7

    @Option(help: "Python with numpy for the single-thread GEMM baseline ('none' to skip).")
    var numpy = "python3"

    func validate() throws {
        _ = try validatedThreads(threads)
        if fileMib < 64 { throw InputError("--file-mib must be at least 64 (got \(fileMib))") }
        if repeats < 1 { throw InputError("--repeats must be at least 1 (got \(repeats))") }
    }

    func run() throws {
        let config = KernelBenchmark.Configuration(
            threads: threads ?? CPUInfo.physicalCores,
            fileBytes: fileMib << 20,
            directory: dir ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp",
            repeats: repeats,
            numpyPython: numpy == "none" ? nil : numpy)
        let report = try KernelBenchmark(config).run(progress: { line in
            if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        })
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.table)
        }
    }
}

struct ConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "The VQGAN decoder with float and with int8 convolutions: speed of each and PSNR between them.",
        discussion: """
            Samples one token grid for --prompt (seed 1, default sampler), then decodes it --repeats times with \
            float convolutions (weights dequantised per layer, the runtime's choice) and with int8 ones (Q8_0 \
            weights as stored, activations quantised per pixel), alternating, and prints the median of each, the \
            speed-up, and the PSNR of the int8 image against the float one. Int8 needs a Q8_0 model file.
            """)

    @OptionGroup var model: ModelOptions

    @OptionGroup var bench: BenchRunOptions

    func run() throws {
        let report = try ConvBenchmark(modelPath: try model.modelPath(), threads: model.threads, repeats: bench.repeats,
                                       prompt: bench.prompt).run(progress: bench.progressLines)
        try bench.print(report, table: report.table)
    }
}
