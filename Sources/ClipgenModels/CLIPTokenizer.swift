// The CLIP BPE tokenizer, exactly as open_clip's `tokenize` (open_clip 3.3 tokenizer.py, SimpleTokenizer with
// clean="lower"): clean the prompt (TextCleaning), split it (WordSplitter), byte-encode and merge each word
// (BytePairEncoding), then [start] + ids + [end], truncated to the context length with end-of-text kept in the
// last slot, padded. The vocabulary and merges come from the model file (docs/model-clip.md).

import ClipgenFile
import Foundation

/// CLIP's byte-level BPE tokenizer, read from a clipgen model file.
///
/// Basic usage:
///
///     let tokenizer = try CLIPTokenizer(file: GGUFFile(path: "model.gguf"))
///     let encoded = tokenizer.encoding("a diagram")      // ids: [49406, 320, 22697, 49407, 0, 0, ...]
///     if encoded.isTruncated { print("prompt cut to \(tokenizer.contextLength) tokens") }
///
/// Thread-safe: the word cache is locked.
public final class CLIPTokenizer: @unchecked Sendable {
    /// Token ids per prompt, including start and end of text (77 for CLIP).
    public let contextLength: Int
    /// Number of tokens (49408 for CLIP); the text encoder's embedding must have as many rows.
    public let vocabularySize: Int
    /// `<start_of_text>` (49406 for CLIP).
    public let startOfTextID: Int32
    /// `<end_of_text>` (49407 for CLIP); the text encoder pools at its position.
    public let endOfTextID: Int32
    /// Fills the slots after end of text (0 for CLIP, as open_clip pads with zeros).
    public let paddingID: Int32

    private let tokenStrings: ByteStrings
    private let merger: BytePairMerger
    private let splitter: WordSplitter
    private let cacheLock = NSLock()
    private var cache: [String: [Int32]] = [:]
    /// Words cached before the cache is emptied (open_clip's grows without bound; a server's would too).
    private static let cacheLimit = 65_536

    /// The end-of-word suffix of open_clip's vocabulary.
    static let endOfWord = "</w>"
    /// The metadata keys, as the converter writes them.
    enum Key {
        static let model = "tokenizer.ggml.model"
        static let tokens = "tokenizer.ggml.tokens"
        static let merges = "tokenizer.ggml.merges"
        static let bos = "tokenizer.ggml.bos_token_id"
        static let eos = "tokenizer.ggml.eos_token_id"
        static let padding = "tokenizer.ggml.padding_token_id"
        /// Under the `clip` component: clipgen.clip.text.context_length.
        static let contextLength = "text.context_length"
    }

    /// The settings a clipgen file records for its tokenizer (under the `clip` component); this implementation
    /// does exactly these, so a file asking for anything else is refused rather than tokenized differently.
    static func requiredSettings(startOfText: String, endOfText: String) -> [(key: String, value: GGUFMetadataValue)] {
        [("tokenizer.clean", .string("ftfy_html_whitespace_lower")),
         ("tokenizer.pattern", .string(startOfText + "|" + endOfText
            + #"|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#)),
         ("tokenizer.pattern_ignore_case", .bool(true)),
         ("tokenizer.end_of_word_suffix", .string(endOfWord)),
         ("tokenizer.truncation", .string("keep_eos"))]
    }

    /// Reads and validates the tokenizer of a clipgen model file.
    ///
    /// - Throws: `GGUFError` for a missing key or a value of the wrong type; `ModelError` when the file has no
    ///   `clip` component or a value is not a CLIP tokenizer (wrong counts, merges of unknown tokens, settings
    ///   this code does not implement), naming the key.
    public convenience init(file: GGUFFile) throws {
        let clip = try ComponentReader(file, component: "clip")
        let model = try file.string(Key.model)
        guard model == "clip" else {
            throw ModelError.invalidMetadata(path: file.path, key: Key.model,
                                             reason: "is \"\(model)\", expected \"clip\"")
        }
        let tokenArray = try file.stringArray(Key.tokens), mergeArray = try file.stringArray(Key.merges)
        var tokens = ByteStrings(capacity: tokenArray.count), merges = ByteStrings(capacity: mergeArray.count)
        for view in tokenArray { tokens.append(view.bytes) }
        for view in mergeArray { merges.append(view.bytes) }
        try self.init(source: file.path, tokens: tokens, merges: merges,
                      startOfTextID: try file.integer(Key.bos), endOfTextID: try file.integer(Key.eos),
                      paddingID: try file.integer(Key.padding),
                      contextLength: try file.integer(clip.metadataKey(Key.contextLength)))
        let bos = String(decoding: tokenStrings[Int(startOfTextID)], as: UTF8.self)
        let eos = String(decoding: tokenStrings[Int(endOfTextID)], as: UTF8.self)
        for (key, expected) in Self.requiredSettings(startOfText: bos, endOfText: eos) {
            let found = try file.value(clip.metadataKey(key))
            guard found == expected else {
                throw ModelError.invalidMetadata(path: file.path, key: clip.metadataKey(key),
                                                 reason: "is \(found); this runtime implements \(expected) only")
            }
        }
    }

    /// Builds a tokenizer from the vocabulary and merges directly (tests, tools); validated like a file's.
    ///
    /// - Parameters:
    ///   - tokens: all tokens in id order: the 256 byte characters, the same with "</w>", one per merge, specials.
    ///   - merges: "first second" in rank order.
    public convenience init(tokens: [String], merges: [String], startOfTextID: Int, endOfTextID: Int,
                            paddingID: Int = 0, contextLength: Int = 77) throws {
        var tokenStrings = ByteStrings(capacity: tokens.count), mergeStrings = ByteStrings(capacity: merges.count)
        for t in tokens { tokenStrings.append(t) }
        for m in merges { mergeStrings.append(m) }
        try self.init(source: "tokenizer arrays", tokens: tokenStrings, merges: mergeStrings,
                      startOfTextID: startOfTextID, endOfTextID: endOfTextID, paddingID: paddingID,
                      contextLength: contextLength)
    }

    /// Checks the vocabulary has open_clip's layout and builds the merge table.
    private init(source: String, tokens: ByteStrings, merges: ByteStrings, startOfTextID: Int, endOfTextID: Int,
                 paddingID: Int, contextLength: Int) throws {
        let fail = { (key: String, reason: String) in ModelError.invalidMetadata(path: source, key: key, reason: reason) }
        let vocabulary = 512 + merges.count + 2
        guard tokens.count == vocabulary else {
            throw fail(Key.tokens, "has \(tokens.count) entries, expected 256 byte tokens + 256 with \"</w>\" + "
                       + "\(merges.count) merge results + 2 special tokens = \(vocabulary)")
        }
        var tokens = tokens
        tokens.buildIndex()
        let merger = try Self.mergeTable(tokens: tokens, merges: merges, fail: fail)
        let specialIDs = (vocabulary - 2)..<vocabulary
        for (key, id) in [(Key.bos, startOfTextID), (Key.eos, endOfTextID)] {
            guard specialIDs.contains(id), startOfTextID != endOfTextID else {
                throw fail(key, "is \(id), expected one of the two special tokens after the merges (\(specialIDs))")
            }
            guard !tokens[id].isEmpty, tokens[id].allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw fail(Key.tokens, "special token \(id) (\(Self.quoted(tokens[id]))) must be printable ASCII")
            }
        }
        guard (0..<vocabulary).contains(paddingID) else {
            throw fail(Key.padding, "is \(paddingID), outside the vocabulary (0..<\(vocabulary))")
        }
        guard (2...65_536).contains(contextLength) else {
            throw fail("clipgen.clip." + Key.contextLength,
                       "is \(contextLength), expected 2...65536 (room for start and end of text)")
        }
        self.contextLength = contextLength
        self.vocabularySize = vocabulary
        self.startOfTextID = Int32(startOfTextID)
        self.endOfTextID = Int32(endOfTextID)
        self.paddingID = Int32(paddingID)
        self.tokenStrings = tokens
        self.merger = merger
        self.splitter = WordSplitter(specials: [startOfTextID, endOfTextID].map {
            (Array(String(decoding: tokens[$0], as: UTF8.self).unicodeScalars), Int32($0))
        })
    }

    /// The pair table, after checking that tokens 0..<512 are the byte characters without and with "</w>" in
    /// open_clip's order, that every merge joins two tokens, and that token 512 + r is the result of merge r.
    private static func mergeTable(tokens: ByteStrings, merges: ByteStrings,
                                   fail: (String, String) -> ModelError) throws -> BytePairMerger {
        return try tokens.withView { tokenView in
            var byteTokens = [Int32](repeating: 0, count: 256), byteEndTokens = byteTokens
            for (k, b) in ByteLevel.order.enumerated() {
                let c = ByteLevel.characters[b], utf8 = Array(String(c).utf8)
                guard tokens[k].elementsEqual(utf8), tokens[256 + k].elementsEqual(utf8 + Array(endOfWord.utf8)) else {
                    throw fail(Key.tokens, "entries \(k) and \(256 + k) are \(quoted(tokens[k])) and "
                               + "\(quoted(tokens[256 + k])), expected byte \(b)'s character '\(c)' without and with \"</w>\"")
                }
                // The ids open_clip's encoder gives these strings (the last token spelled so).
                byteTokens[b] = Int32(tokens.index(of: tokenView[k], in: tokenView)!)
                byteEndTokens[b] = Int32(tokens.index(of: tokenView[256 + k], in: tokenView)!)
            }
            var merger = BytePairMerger(byteTokens: byteTokens, byteEndTokens: byteEndTokens, mergeCount: merges.count)
            try merges.withView { mergeView in
                for rank in 0..<merges.count {
                    let rule = mergeView[rank], space = UInt8(ascii: " ")
                    guard let split = rule.firstIndex(of: space), rule.lastIndex(of: space) == split,
                          split > 0, split < rule.count - 1 else {
                        throw fail(Key.merges, "entry \(rank) (\(quoted(merges[rank]))) is not two symbols separated "
                                   + "by one space")
                    }
                    let first = UnsafeBufferPointer(rebasing: rule[..<split])
                    let second = UnsafeBufferPointer(rebasing: rule[(split + 1)...])
                    guard let a = tokens.index(of: first, in: tokenView),
                          let b = tokens.index(of: second, in: tokenView) else {
                        let unknown = Array(tokens.index(of: first, in: tokenView) == nil ? first : second)
                        throw fail(Key.merges, "entry \(rank) (\(quoted(merges[rank]))) merges "
                                   + "\(quoted(unknown[...])), which is not a token")
                    }
                    let result = 512 + rank
                    guard ByteStrings.equal(tokenView[result], first, second) else {
                        throw fail(Key.tokens, "entry \(result) is \(quoted(tokens[result])), expected the result of "
                                   + "merge \(rank) (\(quoted(merges[rank])))")
                    }
                    let merged = tokens.hasDuplicates ? tokens.index(of: first, second, in: tokenView)! : result
                    merger.add(first: Int32(a), second: Int32(b), merged: Int32(merged), rank: rank)
                }
            }
            return merger
        }
    }

    /// A token or merge for an error message.
    private static func quoted(_ s: ArraySlice<UInt8>) -> String { "'" + String(decoding: s, as: UTF8.self) + "'" }

    // MARK: Encoding

    /// A prompt's ids at the context length.
    public struct Encoding: Equatable, Sendable {
        /// `contextLength` ids: start of text, the prompt's tokens, end of text, padding. When the prompt is too
        /// long its tokens are cut and end of text still fills the last slot (open_clip's truncation).
        public let ids: [Int32]
        /// Prompt tokens that did not fit (0 when the prompt fits).
        public let droppedTokenCount: Int
        /// Whether the prompt was cut to fit.
        public var isTruncated: Bool { droppedTokenCount > 0 }
    }

    /// The prompt's ids and whether it had to be cut (the CLI warns on stderr when it was).
    public func encoding(_ text: String) -> Encoding {
        let words = tokens(text)
        let kept = min(words.count, contextLength - 2)
        var ids = [Int32](repeating: paddingID, count: contextLength)
        ids[0] = startOfTextID
        ids.replaceSubrange(1..<(kept + 1), with: words[..<kept])
        ids[kept + 1] = endOfTextID
        return Encoding(ids: ids, droppedTokenCount: words.count - kept)
    }

    /// `open_clip.tokenize(text)[0]`: exactly `contextLength` ids.
    public func encode(_ text: String) -> [Int32] { encoding(text).ids }

    /// The prompt's tokens without start, end or padding, never truncated (open_clip's `encode`; for debugging).
    public func tokens(_ text: String) -> [Int32] {
        let cleaned = TextCleaning.clean(text)
        var out: [Int32] = []
        splitter.split(cleaned) { piece in
            switch piece {
            case .special(let id):
                out.append(id)
            case .word(let range):
                out += bytePairs(String(String.UnicodeScalarView(cleaned[range])))
            }
        }
        return out
    }

    /// The text of token `id` in the vocabulary's byte-level spelling (e.g. "photo</w>"), or nil out of range.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < vocabularySize else { return nil }
        return String(decoding: tokenStrings[Int(id)], as: UTF8.self)
    }

    /// The merged ids of one word, cached as open_clip caches them.
    private func bytePairs(_ word: String) -> [Int32] {
        cacheLock.lock()
        let hit = cache[word]
        cacheLock.unlock()
        if let hit { return hit }
        let ids = merger.merge(Array(word.utf8))
        cacheLock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[word] = ids
        cacheLock.unlock()
        return ids
    }
}
