// Exhaustive truncation and seeded random corruption: every variant must either load or throw a
// GGUFError; nothing may crash, and every prefix short of the tensor data must be rejected.

import ClipgenFile
import Foundation
import Testing

/// SplitMix64: a small seeded generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RobustnessTests {
    let dir = ScratchDirectory()

    /// Every prefix of the file that ends before the last tensor's data is rejected with a GGUFError.
    @Test func everyTruncationIsRejected() throws {
        let full = sampleBytes()
        let lastTensorEnd = full.count - 24  // 136 bytes of Q8_0 data then 24 bytes of padding
        for length in 0..<lastTensorEnd {
            let path = dir.write(Array(full[..<length]), to: "prefix.gguf")
            #expect(throws: GGUFError.self, "prefix of \(length) bytes") { _ = try GGUFFile(path: path) }
        }
        // Dropping only trailing padding leaves a valid file.
        _ = try GGUFFile(path: dir.write(Array(full[..<lastTensorEnd]), to: "prefix.gguf"))
    }

    /// Random byte flips in the header either load or throw a GGUFError.
    @Test func randomCorruptionNeverCrashes() throws {
        let full = sampleBytes()
        let headerEnd = try GGUFFile(path: dir.write(full)).dataOffset
        var rng = SplitMix64(state: 0x5EED)
        var rejected = 0
        for trial in 0..<1000 {
            var b = full
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<headerEnd, using: &rng)
                b[at] = trial % 3 == 0 ? 0xFF : UInt8.random(in: 0...255, using: &rng)
            }
            let path = dir.write(b, to: "fuzz.gguf")
            do {
                let file = try GGUFFile(path: path)
                // Whatever loaded must be internally consistent.
                for t in file.tensors {
                    #expect(t.fileOffset + t.byteCount <= file.fileSize)
                    #expect(t.fileOffset >= file.dataOffset)
                }
            } catch is GGUFError {
                rejected += 1
            }
        }
        #expect(rejected > 300)
    }
}
