import ClipgenFile
import ClipgenKernels
import ClipgenThreads
import Foundation
import Testing

/// README.md's "basic usage" block, run on a file made here, so the example cannot rot.
@Test func readmeBasicUsageRuns() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clipgen-readme-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("model.gguf").path
    let values = seededFloats(1024 * 4096, seed: 9)  // [1024, 4096]
    var blocks = [UInt8](repeating: 0, count: 1024 * Q8_0.rowBytes(columns: 4096))
    values.withUnsafeBufferPointer { v in
        blocks.withUnsafeMutableBytes { quantizeRowQ8_0(v.baseAddress!, count: v.count, into: $0.baseAddress!) }
    }
    var writer = GGUFWriter()
    writer.add("general.architecture", .string("clipgen"))
    writer.addTensor("blk.0.w", type: .q8_0, shape: [4096, 1024], bytes: blocks)
    try writer.write(to: path)
    let input = seededFloats(4096, seed: 10)

    // --- README block ---
    let file = try GGUFFile(path: path)
    let w = try file.tensor("blk.0.w", type: .q8_0, shape: [4096, 1024])
    let pool = ThreadPool()
    let x = Q8Activations(columns: 4096)
    input.withUnsafeBufferPointer { x.quantize($0.baseAddress!) }
    var y = [Float](repeating: 0, count: 1024)
    pool.q8MatVec(weights: w.baseAddress, rows: 1024, columns: 4096, activations: x, into: &y)
    let memory = try #require(MemoryReport.current())
    // --- end ---

    var reference = [Float](repeating: 0, count: 1024)
    gemvQ8_0Reference(weights: w.baseAddress, columns: 4096, rows: 0..<1024, input: input, output: &reference)
    #expect(y.map(\.bitPattern) == reference.map(\.bitPattern))
    #expect(memory.file > 0)
}
