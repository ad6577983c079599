// The Swift transformer's invariants on small random models: KV-cached decoding equals the full forward pass
// bit for bit, for every candidate of a batch; results do not depend on the thread count; every tensor of the
// file is used; bad metadata is reported by key.
import ClipgenFile
import ClipgenModels
import ClipgenThreads
import Testing

/// Logits of `tokens` decoded step by step for several candidates at once, candidate-major: [c][position][vocab].
private func decodeStepwise(_ gpt: GPT, conditions: [[Float]], tokens: [[Int32]], pool: ThreadPool) -> [[[Float]]] {
    let c = conditions.count, vocab = gpt.config.vocabSize
    let state = gpt.makeState(candidates: c)
    var out = [[[Float]]](repeating: [], count: c)
    var logits = [Float](repeating: 0, count: c * vocab)
    conditions.flatMap { $0 }.withUnsafeBufferPointer { cond in
        logits.withUnsafeMutableBufferPointer { gpt.start(state, conditions: cond.baseAddress!, logits: $0.baseAddress!, pool: pool) }
    }
    for j in 0..<c { out[j].append(Array(logits[(j * vocab)..<((j + 1) * vocab)])) }
    for i in 0..<tokens[0].count {
        let column = tokens.map { $0[i] }
        column.withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { gpt.step(state, tokens: ids.baseAddress!, logits: $0.baseAddress!, pool: pool) }
        }
        for j in 0..<c { out[j].append(Array(logits[(j * vocab)..<((j + 1) * vocab)])) }
    }
    #expect(state.position == tokens[0].count + 1, "the cache advances one position per token")
    return out
}

@Test(arguments: [MatrixType.q8_0, .f32])
func cachedDecodingEqualsFullForward(matrices: MatrixType) throws {
    let dir = try ScratchDirectory()
    let model = SyntheticGPT()
    try model.write(to: dir.file("gpt.gguf"), matrices: matrices)
    let file = try GGUFFile(path: dir.file("gpt.gguf"))
    let gpt = try GPT(file: file)
    #expect(file.unusedTensorNames.isEmpty, "tensors the model never reads: \(file.unusedTensorNames)")
    var random = SeededFloats(state: 77)
    let conditions = (0..<3).map { _ in random.array(model.condDim, scale: 1) }
    let length = model.positions - 1   // the last token is never fed back
    let tokens = (0..<3).map { j in (0..<length).map { Int32(($0 * 7 + j * 13) % model.vocab) } }
    let pool = ThreadPool(threads: 2)
    let stepwise = decodeStepwise(gpt, conditions: conditions, tokens: tokens, pool: pool)
    for j in 0..<3 {
        let full = gpt.forwardAll(condition: conditions[j], tokens: tokens[j], pool: pool)
        let decoded = stepwise[j].flatMap { $0 }
        #expect(full.count == decoded.count)
        #expect(full.map(\.bitPattern) == decoded.map(\.bitPattern), "candidate \(j): cached decoding != full forward")
        #expect(full.allSatisfy { $0.isFinite })
    }
    // Candidates are independent: a candidate's logits do not depend on what the others decode.
    let alone = decodeStepwise(gpt, conditions: [conditions[1]], tokens: [tokens[1]], pool: pool)
    #expect(alone[0].flatMap { $0 }.map(\.bitPattern) == stepwise[1].flatMap { $0 }.map(\.bitPattern))
}

@Test func threadCountDoesNotChangeLogits() throws {
    let dir = try ScratchDirectory()
    let model = SyntheticGPT()
    try model.write(to: dir.file("gpt.gguf"), matrices: .q8_0)
    let gpt = try GPT(file: try GGUFFile(path: dir.file("gpt.gguf")))
    var random = SeededFloats(state: 5)
    let condition = random.array(model.condDim, scale: 1)
    let tokens: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6]
    let results = [1, 2, 3].map { gpt.forwardAll(condition: condition, tokens: tokens, pool: ThreadPool(threads: $0)) }
    #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
    #expect(results[0].map(\.bitPattern) == results[2].map(\.bitPattern))
}

@Test func q8_0StaysCloseToF32() throws {
    // The same random weights stored both ways: int8 weights and activations move the logits only a little.
    let dir = try ScratchDirectory()
    let model = SyntheticGPT()
    try model.write(to: dir.file("q8.gguf"), matrices: .q8_0)
    try model.write(to: dir.file("f32.gguf"), matrices: .f32)
    let q8 = try GPT(file: try GGUFFile(path: dir.file("q8.gguf")))
    let f32 = try GPT(file: try GGUFFile(path: dir.file("f32.gguf")))
    var random = SeededFloats(state: 6)
    let condition = random.array(model.condDim, scale: 1)
    let tokens: [Int32] = [10, 20, 30, 40, 50, 60]
    let pool = ThreadPool(threads: 2)
    let a = q8.forwardAll(condition: condition, tokens: tokens, pool: pool)
    let b = f32.forwardAll(condition: condition, tokens: tokens, pool: pool)
    var num: Double = 0, den: Double = 0
    for i in a.indices { num += Double(a[i] - b[i]) * Double(a[i] - b[i]); den += Double(b[i]) * Double(b[i]) }
    let relativeRMS = (num / den).squareRoot()
    print("synthetic GPT, Q8_0 vs F32 logits: relative RMS \(relativeRMS)")
    #expect(relativeRMS < 0.05)
}

@Test func badMetadataNamesTheKey() throws {
    let dir = try ScratchDirectory()
    var model = SyntheticGPT()
    model.heads = 3  // does not divide 64
    try model.write(to: dir.file("bad.gguf"), matrices: .f32)
    #expect(throws: ModelError.invalidMetadata(path: dir.file("bad.gguf"), key: "clipgen.gpt.heads",
                                                reason: "3 heads do not divide d_model 64")) {
        _ = try GPT(file: try GGUFFile(path: dir.file("bad.gguf")))
    }
}
