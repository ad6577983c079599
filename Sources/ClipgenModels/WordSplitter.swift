// The split of cleaned text into BPE words: a hand-written matcher for open_clip's pattern (regex module,
// IGNORECASE), tried at each position in the pattern's order like `regex.findall`:
//
//     <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// A general regex engine would not do: ICU (NSRegularExpression) differs from the regex module in its Unicode
// version and in how IGNORECASE treats classes (U+0345, see SplitClass), and this is a few lines.

/// One piece of the split.
enum WordPiece: Equatable {
    /// A special token written out exactly (the tokenizer's cache maps it to its id, skipping BPE).
    case special(Int32)
    /// Scalars `range` of the text, to be byte-encoded and merged.
    case word(Range<Int>)
}

@_spi(Testing) public struct WordSplitter {
    /// The special tokens in pattern order (start, end of text) with their ids; ASCII, checked at load.
    let specials: [(scalars: [Unicode.Scalar], id: Int32)]

    /// The contractions, lowercase, in pattern order.
    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map {
        Array(("'" + $0).unicodeScalars)
    }

    /// Calls `body` with each piece of `text`, left to right; scalars no alternative matches are skipped.
    func split(_ text: [Unicode.Scalar], _ body: (WordPiece) -> Void) {
        var i = 0
        while i < text.count {
            if let (length, id) = special(in: text, at: i) {
                body(id.map(WordPiece.special) ?? .word(i..<(i + length)))
                i += length
                continue
            }
            if text[i] == "'", let c = Self.contractions.first(where: { matches(text, at: i, $0) }) {
                body(.word(i..<(i + c.count)))
                i += c.count
                continue
            }
            let cls = PythonUnicode.splitClass(text[i])
            switch cls {
            case .skipped:
                i += 1
            case .number:
                body(.word(i..<(i + 1)))
                i += 1
            case .letter, .other:
                var j = i + 1
                while j < text.count && PythonUnicode.splitClass(text[j]) == cls { j += 1 }
                body(.word(i..<j))
                i = j
            }
        }
    }

    /// A special token matching (case-insensitively) at `i`: its length, and its id when the text is the token
    /// exactly. A case-folded match such as "<ſtart_of_text>" is a match of the pattern but not a key of
    /// open_clip's cache, so it goes through BPE as an ordinary word.
    private func special(in text: [Unicode.Scalar], at i: Int) -> (Int, Int32?)? {
        for (token, id) in specials where matches(text, at: i, token) {
            let exact = text[i..<(i + token.count)].elementsEqual(token)
            return (token.count, exact ? id : nil)
        }
        return nil
    }

    /// Whether `pattern` (ASCII) matches at `i` under IGNORECASE: the regex module's simple case folding, in
    /// which besides ASCII case only ſ (U+017F) folds to "s" and the Kelvin sign (U+212A) to "k".
    private func matches(_ text: [Unicode.Scalar], at i: Int, _ pattern: [Unicode.Scalar]) -> Bool {
        guard text.count - i >= pattern.count else { return false }
        for (k, p) in pattern.enumerated() where Self.fold(text[i + k]) != Self.fold(p) { return false }
        return true
    }

    @_spi(Testing) public static func fold(_ s: Unicode.Scalar) -> UInt32 {
        switch s.value {
        case 0x41...0x5A: return s.value + 32
        case 0x17F: return 0x73
        case 0x212A: return 0x6B
        default: return s.value
        }
    }
}
