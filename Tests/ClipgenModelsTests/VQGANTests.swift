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
