// The Swift VQGAN decoder on small random models: every tensor is read, the output has the configured size and is
// finite, and it does not depend on the thread count (banded convolutions and norms). Parity with taming's
// Decoder is tested on converter-made files.
import ClipgenFile
import ClipgenModels
import ClipgenThreads
import Testing

@Test(arguments: [MatrixType.q8_0, .f32])
func decodesEveryTensorDeterministically(matrices: MatrixType) throws {
    let dir = try ScratchDirectory()
    let model = SyntheticVQGAN()
    try model.write(to: dir.file("vqgan.gguf"), matrices: matrices)
    let file = try GGUFFile(path: dir.file("vqgan.gguf"))
    let decoder = try VQGANDecoder(file: file)
    #expect(file.unusedTensorNames.isEmpty, "tensors the decoder never reads: \(file.unusedTensorNames)")
    #expect(decoder.config.imageHeight == 6 && decoder.config.imageWidth == 10)
    let tokens = (0..<15).map { Int32(($0 * 11) % model.codebook) }
    let one = decoder.decodeToFloats(tokens, pool: ThreadPool(threads: 1))
    let three = decoder.decodeToFloats(tokens, pool: ThreadPool(threads: 3))
    #expect(one.count == 6 * 10 * 3)
    #expect(one.allSatisfy { $0.isFinite })
    #expect(one.map(\.bitPattern) == three.map(\.bitPattern), "output depends on the thread count")
    let pixels = decoder.decode(tokens, pool: ThreadPool(threads: 2))
    #expect(pixels.count == 180 && Set(pixels).count > 10, "a flat image from random weights")
}

/// `.int8` convolutions (what `clipgen bench conv` measures against float): every layer of a Q8_0 file takes the
/// int8 path, the result is close to the float decode but not equal to it, and it too is thread-count invariant;
/// an F32 file has no int8-capable layer and decodes exactly as before.
@Test func int8ConvolutionsStayCloseToFloat() throws {
    let dir = try ScratchDirectory()
    let model = SyntheticVQGAN()
    let tokens = (0..<15).map { Int32(($0 * 7) % model.codebook) }
    for matrices in [MatrixType.q8_0, .f32] {
        let path = dir.file("vqgan-\(matrices).gguf")
        try model.write(to: path, matrices: matrices)
        let decoder = try VQGANDecoder(file: try GGUFFile(path: path))
        let counts = decoder.int8ConvolutionCount
        let float = decoder.decodeToFloats(tokens, pool: ThreadPool(threads: 2))
        decoder.convolutionArithmetic = .int8
        let int8 = decoder.decodeToFloats(tokens, pool: ThreadPool(threads: 1))
        let int8Threads = decoder.decodeToFloats(tokens, pool: ThreadPool(threads: 3))
        #expect(int8.map(\.bitPattern) == int8Threads.map(\.bitPattern), "int8 output depends on the thread count")
        if matrices == .f32 {
            #expect(counts.capable == 0 && counts.all > 0)
            #expect(int8.map(\.bitPattern) == float.map(\.bitPattern))
            continue
        }
        #expect(counts.capable == counts.all, "\(counts.capable) of \(counts.all) layers can run in int8")
        let error = zip(int8, float).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let signal = float.map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(error > 0, "the int8 path did not run")
        #expect(error / signal < 0.05, "int8 decode relative error \(error / signal)")
    }
}
