// The tokenizer on a tiny hand-made vocabulary (no Python): byte-pair merging by rank, and every way a
// vocabulary or a model file can be wrong, each failing with an error that names the key.

import ClipgenFile
import ClipgenModels
import Foundation
import Testing

/// A vocabulary in open_clip's layout with only `merges` as merge rules.
struct TinyVocabulary {
    var merges: [String]
    var tokens: [String]

    init(merges: [String]) {
        // GPT-2's byte characters in open_clip's order, written out independently of the runtime's table.
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let chars = (printable + (0x100..<0x144)).map { String(Unicode.Scalar(UInt32($0))!) }
        self.merges = merges
        tokens = chars + chars.map { $0 + "</w>" } + merges.map { $0.replacingOccurrences(of: " ", with: "") }
            + ["<start_of_text>", "<end_of_text>"]
    }

    func tokenizer(contextLength: Int = 8) throws -> CLIPTokenizer {
        try CLIPTokenizer(tokens: tokens, merges: merges, startOfTextID: tokens.count - 2,
                          endOfTextID: tokens.count - 1, contextLength: contextLength)
    }

    /// The keys of a clipgen model file holding this vocabulary.
    func metadata() -> [(String, GGUFMetadataValue)] {
        [("general.architecture", .string("clipgen")), ("clipgen.format_version", .uint32(1)),
         ("clipgen.components", .stringArray(["clip"])),
         ("tokenizer.ggml.model", .string("clip")), ("tokenizer.ggml.tokens", .stringArray(tokens)),
         ("tokenizer.ggml.merges", .stringArray(merges)),
         ("tokenizer.ggml.bos_token_id", .uint32(UInt32(tokens.count - 2))),
         ("tokenizer.ggml.eos_token_id", .uint32(UInt32(tokens.count - 1))),
         ("tokenizer.ggml.padding_token_id", .uint32(0)), ("clipgen.clip.text.context_length", .uint32(8)),
         ("clipgen.clip.tokenizer.clean", .string("ftfy_html_whitespace_lower")),
         ("clipgen.clip.tokenizer.pattern",
          .string(#"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#)),
         ("clipgen.clip.tokenizer.pattern_ignore_case", .bool(true)),
         ("clipgen.clip.tokenizer.end_of_word_suffix", .string("</w>")),
         ("clipgen.clip.tokenizer.truncation", .string("keep_eos"))]
    }
}

struct CLIPTokenizerValidationTests {
    let vocabulary = TinyVocabulary(merges: ["l o</w>", "h e", "l lo</w>", "he llo</w>", "a a", "aa a</w>"])
    /// Ids: byte b = its position in the byte order; the first merge result is 512.
    func id(_ merge: Int) -> Int32 { Int32(512 + merge) }
    let a = Int32(0x61 - 0x21), aEnd = Int32(256 + 0x61 - 0x21)

    @Test func mergesApplyByRankLeftToRight() throws {
        let tokenizer = try vocabulary.tokenizer()
        #expect(tokenizer.tokens("hello") == [id(3)])
        #expect(tokenizer.tokens("HeLLo hello") == [id(3), id(3)])
        // "a a a a</w>": (a, a) merges left to right without overlap; (aa, a</w>) has a rule, (aa, a) none.
        #expect(tokenizer.tokens("aaaa") == [id(4), a, aEnd])
        #expect(tokenizer.tokens("aaa") == [id(5)])
        #expect(tokenizer.tokens("a") == [aEnd])
        #expect(tokenizer.tokens("a <end_of_text>") == [aEnd, Int32(vocabulary.tokens.count - 1)])
        #expect(tokenizer.encode("hello aaaa hello") == [tokenizer.startOfTextID, id(3), id(4), a, aEnd, id(3),
                                                        tokenizer.endOfTextID, 0])
        let long = tokenizer.encoding("hello hello hello hello hello hello hello")
        #expect(long.ids == [tokenizer.startOfTextID] + Array(repeating: id(3), count: 6) + [tokenizer.endOfTextID])
        #expect(long.droppedTokenCount == 1 && long.isTruncated)
    }

    /// The key an array-built tokenizer names when `change` spoils the vocabulary.
    func failingKey(_ change: (inout TinyVocabulary, inout (bos: Int, eos: Int, pad: Int, context: Int)) -> Void)
        -> String? {
        var v = vocabulary
        var ids = (bos: v.tokens.count - 2, eos: v.tokens.count - 1, pad: 0, context: 8)
        change(&v, &ids)
        do {
            _ = try CLIPTokenizer(tokens: v.tokens, merges: v.merges, startOfTextID: ids.bos, endOfTextID: ids.eos,
                                  paddingID: ids.pad, contextLength: ids.context)
            return nil
        } catch ModelError.invalidMetadata(path: "tokenizer arrays", key: let key, reason: _) {
            return key
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func badVocabulariesNameTheKey() {
        #expect(failingKey { _, _ in } == nil)
        #expect(failingKey { v, _ in v.tokens.removeLast() } == "tokenizer.ggml.tokens")
        #expect(failingKey { v, _ in v.tokens.swapAt(3, 4) } == "tokenizer.ggml.tokens")
        #expect(failingKey { v, _ in v.tokens[513] = "xx" } == "tokenizer.ggml.tokens")
        #expect(failingKey { v, _ in v.merges[1] = "h zz" } == "tokenizer.ggml.merges")
        #expect(failingKey { v, _ in v.merges[1] = "he" } == "tokenizer.ggml.merges")
        #expect(failingKey { v, _ in v.merges[1] = "h  e" } == "tokenizer.ggml.merges")
        #expect(failingKey { v, _ in v.merges[1] = " he" } == "tokenizer.ggml.merges")
        #expect(failingKey { v, _ in v.tokens[v.tokens.count - 1] = "<end_of_téxt>" } == "tokenizer.ggml.tokens")
        #expect(failingKey { _, ids in ids.bos = 3 } == "tokenizer.ggml.bos_token_id")
        #expect(failingKey { _, ids in ids.eos = ids.bos } == "tokenizer.ggml.bos_token_id")
        #expect(failingKey { _, ids in ids.eos = 1 << 20 } == "tokenizer.ggml.eos_token_id")
        #expect(failingKey { _, ids in ids.pad = -1 } == "tokenizer.ggml.padding_token_id")
        #expect(failingKey { _, ids in ids.context = 1 } == "clipgen.clip.text.context_length")
    }

    /// The error reading a file with `vocabulary`'s keys after `change`.
    func fileError(_ change: (inout [(String, GGUFMetadataValue)]) -> Void) throws -> Error? {
        let dir = try ScratchDirectory()
        var keys = vocabulary.metadata()
        change(&keys)
        var writer = GGUFWriter()
        for (key, value) in keys { writer.add(key, value) }
        let path = dir.file("tokenizer.gguf")
        try writer.write(to: path)
        do {
            let tokenizer = try CLIPTokenizer(file: GGUFFile(path: path))
            #expect(tokenizer.tokens("hello") == [id(3)] && tokenizer.contextLength == 8)
            return nil
        } catch {
            return error
        }
    }

    func replacing(_ key: String, with value: GGUFMetadataValue?) -> (inout [(String, GGUFMetadataValue)]) -> Void {
        { keys in
            keys.removeAll { $0.0 == key }
            if let value { keys.append((key, value)) }
        }
    }

    @Test func badModelFilesNameTheKey() throws {
        #expect(try fileError { _ in } == nil)
        func invalidKey(_ error: Error?) -> String? {
            if case ModelError.invalidMetadata(_, let key, _)? = error as? ModelError { return key }
            return nil
        }
        let noMerges = try fileError(replacing("tokenizer.ggml.merges", with: nil))
        guard case GGUFError.missingKey(_, "tokenizer.ggml.merges")? = noMerges as? GGUFError else {
            Issue.record("expected a missing tokenizer.ggml.merges, got \(String(describing: noMerges))")
            return
        }
        #expect(invalidKey(try fileError(replacing("tokenizer.ggml.model", with: .string("gpt2"))))
                == "tokenizer.ggml.model")
        #expect(invalidKey(try fileError(replacing("clipgen.clip.tokenizer.pattern", with: .string("\\S+"))))
                == "clipgen.clip.tokenizer.pattern")
        #expect(invalidKey(try fileError(replacing("clipgen.clip.tokenizer.clean", with: .string("canonicalize"))))
                == "clipgen.clip.tokenizer.clean")
        #expect(invalidKey(try fileError(replacing("clipgen.clip.text.context_length", with: .uint32(0))))
                == "clipgen.clip.text.context_length")
        let tokensAsNumbers = try fileError(replacing("tokenizer.ggml.tokens", with: .array([UInt32(1), 2])))
        guard case GGUFError.typeMismatch(_, "tokenizer.ggml.tokens", _, _)? = tokensAsNumbers as? GGUFError else {
            Issue.record("expected a type mismatch on tokenizer.ggml.tokens, got \(String(describing: tokensAsNumbers))")
            return
        }
        let noComponent = try fileError(replacing("clipgen.components", with: .stringArray(["gpt"])))
        guard case ModelError.missingComponent(_, "clip")? = noComponent as? ModelError else {
            Issue.record("expected a missing clip component, got \(String(describing: noComponent))")
            return
        }
    }
}
