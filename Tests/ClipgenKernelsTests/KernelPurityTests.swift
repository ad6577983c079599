import Foundation
import Testing

/// The kernel module must build with Embedded Swift for aarch64, so it may import nothing: no Foundation, no Glibc.
/// The one exception is the compiler's own `Builtin` module in Intrinsics.swift (vpdpbusd and friends on VNNI hosts),
/// which is part of the toolchain, not a library.
@Test func kernelModuleImportsNothing() throws {
    let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/ClipgenKernels")
    let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
    #expect(files.count >= 5, "expected the kernel sources in \(sources.path)")
    for file in files {
        let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
        let imports = text.split(separator: "\n").filter {
            $0.trimmingCharacters(in: .whitespaces).range(of: #"^(@\w+\s+)?import\s"#, options: .regularExpression) != nil
        }
        let allowed = file == "Intrinsics.swift" ? ["import Builtin"] : []
        #expect(imports.map { $0.trimmingCharacters(in: .whitespaces) } == allowed, "\(file) imports \(imports); ClipgenKernels must depend on the Swift stdlib only")
    }
}
