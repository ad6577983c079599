// The loader's UTF-8 check agrees with the standard library's validating decoder on edge cases
// (overlongs, surrogates, out-of-range code points, truncated sequences) and on random bytes.

import ClipgenFile
import Foundation
import Testing

@Suite struct UTF8ValidationTests {
    let dir = ScratchDirectory()

    /// Whether a file whose only string value has exactly `bytes` loads.
    func loads(_ bytes: [UInt8]) -> Bool {
        var w = GGUFWriter()
        w.add("clipgen.utf8", .string(String(repeating: "x", count: bytes.count)))
        var b = try! w.encoded()
        patch(&b, at: byteOffset(after: "clipgen.utf8", in: b) + 4 + 8, bytes)
        let path = dir.write(b, to: "utf8.gguf")
        do {
            let file = try GGUFFile(path: path)
            #expect(Array(try file.stringView("clipgen.utf8").bytes) == bytes)
            return true
        } catch GGUFError.invalidUTF8(path, "value of key 'clipgen.utf8'") {
            return false
        } catch {
            Issue.record("unexpected \(error)")
            return false
        }
    }

    static let edgeCases: [[UInt8]] = [
        [], [0x61], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x90, 0x8D, 0x88], [0xF4, 0x8F, 0xBF, 0xBF],
        [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80],
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80],
        [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE], [0xC3], [0xE2, 0x82], [0xF0, 0x90, 0x8D], [0xC3, 0x41],
        [0xE2, 0x41, 0xAC], [0xF0, 0x90, 0x41, 0x88], Array("abcdefgh".utf8) + [0x80],
        Array("abcdefghijklmno".utf8) + [0xC3, 0xA9], Array("abcdefg".utf8) + [0xE2, 0x82, 0xAC] + Array("abcdefgh".utf8),
        [0x00, 0x7F],
    ]

    @Test(arguments: edgeCases)
    func edgeCase(_ bytes: [UInt8]) {
        #expect(loads(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
    }

    @Test func randomSequences() {
        var rng = SplitMix64(state: 0xC0FFEE)
        let alphabet: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1,
                                 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        var agreed = 0, valid = 0
        for _ in 0..<300 {
            // Valid text from random scalars of every encoded length, then maybe one byte replaced.
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let ranges: [ClosedRange<UInt32>] = [0...0x7F, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
                let scalar = Unicode.Scalar(UInt32.random(in: ranges.randomElement(using: &rng)!, using: &rng))!
                bytes += Array(String(Character(scalar)).utf8)
            }
            if Bool.random(using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng)!
            }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            if loads(bytes) == expected { agreed += 1 } else { Issue.record("disagree on \(bytes)") }
            if expected { valid += 1 }
        }
        #expect(agreed == 300 && valid > 100 && valid < 250)
    }
}
