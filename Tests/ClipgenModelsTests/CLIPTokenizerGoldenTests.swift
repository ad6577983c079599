// The tokenizer against open_clip itself: ids for every golden prompt (Goldens/tokenizer_goldens.json, made by
// open_clip.tokenizer.tokenize, mojibake included), truncation as open_clip truncates, and load / encode times
// (printed only).

@_spi(Testing) import ClipgenModels
import Foundation
import Testing

@Suite(.enabled(if: TokenizerFixtures.vocabularyTestsEnabled, TokenizerFixtures.skipMessage))
struct CLIPTokenizerGoldenTests {
    @Test func idsEqualOpenCLIPOnAllGoldens() throws {
        if TokenizerFixtures.recording { try TokenizerFixtures.runScript(["record"]) }
        let tokenizer = try TokenizerFixtures.tokenizer.get().0
        let root = try TokenizerFixtures.json("tokenizer_goldens.json")
        let goldens = root["goldens"] as! [[String: Any]]
        #expect(goldens.count >= 500)
        var equal = 0, repaired = 0, failures: [String] = []
        for golden in goldens {
            let text = golden["text"] as! String
            let expected = (golden["ids"] as! [Int]).map(Int32.init)
            let encoded = tokenizer.encoding(text)
            if encoded.ids == expected {
                equal += 1
                let scalars = Array(text.unicodeScalars)
                if Mojibake.fixEncoding(scalars) != scalars { repaired += 1 }
            } else {
                failures.append("\(text.debugDescription): got \(encoded.ids.prefix { $0 != 0 }), "
                                + "open_clip \(expected.prefix { $0 != 0 })")
            }
            // open_clip's encode without start, end, padding or truncation.
            let tokenCount = golden["tokens"] as! Int
            #expect(tokenizer.tokens(text).count == tokenCount, "\(text.debugDescription)")
            #expect(encoded.droppedTokenCount == max(0, tokenCount - (tokenizer.contextLength - 2)))
        }
        print("""
            CLIP tokenizer: \(equal) of \(goldens.count) golden prompts give open_clip's ids (\(repaired) of them \
            repaired by ftfy's fix_encoding)
            """)
        #expect(failures.isEmpty, "\(failures.count) prompts differ from open_clip:\n\(failures.prefix(25).joined(separator: "\n"))")
        #expect(equal == goldens.count)
        #expect(!TokenizerFixtures.recording,
                "goldens re-recorded with open_clip (CLIPGEN_RECORD_GOLDENS is set): review the diff, rerun without it")
    }

    @Test func truncationKeepsEndOfTextInTheLastSlot() throws {
        let tokenizer = try TokenizerFixtures.tokenizer.get().0
        let n = tokenizer.contextLength
        for words in [n - 3, n - 2, n - 1, n, 200] {
            let encoded = tokenizer.encoding(Array(repeating: "photo", count: words).joined(separator: " "))
            #expect(encoded.ids.count == n)
            #expect(encoded.ids.first == tokenizer.startOfTextID)
            #expect(encoded.droppedTokenCount == max(0, words - (n - 2)))
            #expect(encoded.isTruncated == (words > n - 2))
            let end = min(words, n - 2) + 1
            #expect(encoded.ids[end] == tokenizer.endOfTextID)
            #expect(encoded.ids[(end + 1)...].allSatisfy { $0 == tokenizer.paddingID })
            #expect(tokenizer.encode("photo " + Array(repeating: "photo", count: words - 1).joined(separator: " "))
                    == encoded.ids)
        }
        #expect(tokenizer.encode("") == [tokenizer.startOfTextID, tokenizer.endOfTextID]
                + Array(repeating: tokenizer.paddingID, count: n - 2))
        #expect(tokenizer.tokenText(320) == "a</w>" && tokenizer.tokenText(49406) == "<start_of_text>")
        #expect(tokenizer.tokenText(-1) == nil && tokenizer.tokenText(Int32(tokenizer.vocabularySize)) == nil)
    }

    @Test func concurrentEncodingAgreesWithSerial() async throws {
        let tokenizer = try TokenizerFixtures.tokenizer.get().0
        let prompts = (0..<64).map { "prompt \($0): a caf\u{E9} in t\u{14D}ky\u{14D} at night, \($0 * 37) lights" }
        let serial = prompts.map(tokenizer.encode)
        let parallel = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, p) in prompts.enumerated() { group.addTask { (i, tokenizer.encode(p)) } }
            var out = [[Int32]](repeating: [], count: prompts.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(parallel == serial)
    }

    /// Figures for the README (no assertion on time: the machine is shared).
    @Test func loadAndEncodeTimes() throws {
        let (tokenizer, openMS, buildMS) = try TokenizerFixtures.tokenizer.get()
        // Words no other test uses, so the first encode runs BPE on every word (a cold cache).
        var generator = SystemRandomNumberGenerator()
        let letters = Array("bcdfghjklmnpqrstvwxz")
        func word() -> String { String((0..<6).map { _ in letters.randomElement(using: &generator)! }) }
        var prompt = ""
        while tokenizer.tokens(prompt + " x").count < tokenizer.contextLength - 2 { prompt += " " + word() }
        let fresh = (0..<20).map { _ in (0..<25).map { _ in word() }.joined(separator: " ") }
        func milliseconds(_ body: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        let cold = fresh.map { p in milliseconds { _ = tokenizer.encode(p) } }.sorted()
        let warm = (0..<200).map { _ in milliseconds { _ = tokenizer.encode(prompt) } }.sorted()
        print(String(format: "CLIP tokenizer: open the file %.2f ms (GGUF parse of the 98k strings), build the "
                     + "tokenizer %.2f ms; encode a 77-token prompt %.3f ms (median, cached words), %.3f ms (median, "
                     + "25 new words)", openMS, buildMS, warm[warm.count / 2], cold[cold.count / 2]))
    }
}
