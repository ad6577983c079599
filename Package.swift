// swift-tools-version:6.0
// clipgen: CLIP-GEN text-to-image on small Linux machines.
//
// Build flags. The kernels are only fast when the compiler may use the host's vector units (a plain
// build measured 2-3x slower here), so a root build is tuned for the host CPU by default:
//   swift build -c release                       host-tuned (-march=native / -target-cpu native)
//   CLIPGEN_PORTABLE=1 swift build -c release    portable baseline x86-64 / armv8 code
// The host flags are `unsafeFlags`, which SwiftPM refuses in a package used as a versioned
// dependency, so they are only applied when this package is the root (not checked out under
// another package's .build/). Dependents get portable code and may pass their own -Xswiftc flags.
import Foundation
import PackageDescription

let env = Context.environment
let isDependency = Context.packageDirectory.contains("/.build/checkouts/")
    || Context.packageDirectory.contains("/SourcePackages/checkouts/")
let hostTuned = env["CLIPGEN_PORTABLE"] == nil && !isDependency

/// The x86 cpuinfo flags of the host (empty elsewhere or when unreadable).
let hostCPUFlags: Set<Substring> = {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(line.split(separator: " "))
}()

/// Whether the host has fused multiply-add: always on arm64, the `fma` cpuinfo flag on x86 (some Atom and
/// Celeron parts lack it).
let hostHasFMA: Bool = {
    #if arch(arm64)
    return true
    #else
    return hostCPUFlags.contains("fma")
    #endif
}()

/// Whether the host has AVX512-VNNI (vpdpbusd on 512-bit vectors), which the Q8_0 kernels use for the int8
/// dot product (Sources/ClipgenKernels/Q8Dot.swift). The instruction is reached through the compiler's
/// `Builtin` module, an experimental feature, so it is enabled only together with the host flags.
let hostHasVNNI512: Bool = {
    #if arch(x86_64)
    return hostCPUFlags.contains("avx512_vnni") && hostCPUFlags.contains("avx512bw")
    #else
    return false
    #endif
}()

/// Settings for targets holding hot loops. `CLIPGEN_FMA` tells the kernels that fused
/// multiply-add is a single instruction (without it `addingProduct` becomes a libm call);
/// `CLIPGEN_VNNI` that vpdpbusd may be used.
let kernelSettings: [SwiftSetting] = hostTuned
    ? [.unsafeFlags(["-Xcc", "-march=native", "-target-cpu", "native"])]
        + (hostHasFMA ? [.define("CLIPGEN_FMA")] : [])
        + (hostHasVNNI512 ? [.define("CLIPGEN_VNNI"), .enableExperimentalFeature("BuiltinModule")] : [])
    : []

let package = Package(
    name: "clipgen",
    products: [
        .library(name: "Clipgen", targets: ["ClipgenFile", "ClipgenKernels", "ClipgenThreads", "ClipgenModels", "ClipgenImage", "ClipgenPipeline"]),
        .executable(name: "clipgen", targets: ["ClipgenCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Layer 0: pure-stdlib SIMD kernels (no Foundation, no Glibc: also builds with Embedded Swift).
        .target(name: "ClipgenKernels", swiftSettings: kernelSettings),
        // Layer 1: persistent spinning thread pool and the parallel drivers of the kernels.
        .target(name: "ClipgenThreads", dependencies: ["ClipgenKernels"], swiftSettings: kernelSettings),
        // Layer 1: the GGUF model file: validated parse, mmap, zero-copy tensor views, writer, memory report.
        .target(name: "ClipgenFile", swiftSettings: kernelSettings),
        // Layer 2: the models (CLIP text/image encoders, the CLIP-GEN transformer, the VQGAN decoder) over a mapped file.
        .target(name: "ClipgenModels", dependencies: ["ClipgenFile", "ClipgenKernels", "ClipgenThreads"],
                swiftSettings: kernelSettings),
        // Layer 3: the pipeline: prompt -> tokens -> embedding -> sampled token grids -> images, with timings.
        .target(name: "ClipgenPipeline", dependencies: ["ClipgenModels", "ClipgenFile", "ClipgenKernels", "ClipgenThreads",
                                                "ClipgenImage"],
                swiftSettings: kernelSettings),
        // libpng (apt: libpng-dev), the one system library the runtime links.
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // Layer 4 (output): PNG encoding with text entries, atomic writes.
        .target(name: "ClipgenImage", dependencies: ["CLibPNG"]),
        // Benchmarks of the layers above (used by `clipgen bench`).
        .target(name: "ClipgenBench", dependencies: ["ClipgenFile", "ClipgenKernels", "ClipgenThreads", "ClipgenPipeline"],
                swiftSettings: kernelSettings),
        .executableTarget(
            name: "ClipgenCLI",
            dependencies: ["ClipgenBench", "ClipgenFile", "ClipgenKernels", "ClipgenThreads", "ClipgenPipeline",
                           "ClipgenModels", "ClipgenImage",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: kernelSettings),
        .testTarget(name: "ClipgenKernelsTests", dependencies: ["ClipgenKernels", "ClipgenThreads"],
                    swiftSettings: kernelSettings),
        .testTarget(name: "ClipgenThreadsTests", dependencies: ["ClipgenThreads", "ClipgenKernels", "ClipgenFile"],
                    swiftSettings: kernelSettings),
        .testTarget(name: "ClipgenImageTests", dependencies: ["ClipgenImage"]),
        .testTarget(name: "ClipgenPipelineTests", dependencies: ["ClipgenPipeline", "ClipgenImage"], swiftSettings: kernelSettings),
        .testTarget(name: "ClipgenModelsTests", dependencies: ["ClipgenModels", "ClipgenFile", "ClipgenThreads", "ClipgenKernels"],
                    exclude: ["Goldens"], swiftSettings: kernelSettings),
        .testTarget(name: "ClipgenFileTests", dependencies: ["ClipgenFile", "ClipgenKernels"],
                    swiftSettings: kernelSettings),
    ],
    swiftLanguageModes: [.v5]
)
