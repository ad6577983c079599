// Python's view of Unicode text, as the CLIP tokenizer depends on it: `str.isspace` (which `str.split()` and
// `str.strip()` use), `str.lower()`, and the character classes of open_clip's split pattern under the `regex`
// module with IGNORECASE. Swift's own `lowercased()` and `Character.isWhitespace` differ from these (no final
// sigma, other whitespace), so the tokenizer works on Unicode scalars with these functions instead.
//
// Tests/ClipgenModelsTests/TokenizerUnicodeTests.swift compares them with Python over every code point. They
// agree on every character both sides' Unicode databases know. The rest differ by version: Swift 6.3 knows Unicode
// 16/17 and lowercases the 55 cased letters added since Unicode 14 (the database of Python 3.11, where the
// goldens were made), which Python 3.11 leaves alone; the `regex` module ships a newer Unicode still, whose
// ~12,800 letters and numbers that Swift does not know yet are punctuation-like pieces here.

/// The class a scalar has in open_clip's split pattern
/// `...|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (regex module, IGNORECASE).
@_spi(Testing) public enum SplitClass: UInt8 {
    /// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo; runs of letters form one piece.
    case letter
    /// `\p{N}`: Nd, Nl or No; every number scalar is a piece of its own.
    case number
    /// Neither letter, number nor `\s`: runs form one piece (punctuation, symbols, emoji, marks, controls).
    case other
    /// Matched by no alternative, so the split skips it: `\s`, and U+0345, which under IGNORECASE is excluded
    /// from `[^\s\p{L}\p{N}]` because its case variants (ι, Ι) are letters, yet is no letter itself.
    case skipped
}

@_spi(Testing) public enum PythonUnicode {
    /// Python's `str.isspace()` (bidirectional class WS, B or S, or category Zs): what `str.split()` with no
    /// argument splits on and `str.strip()` removes. Includes U+001C...U+001F, unlike the regex module's `\s`.
    @_spi(Testing) public static func isSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// The regex module's `\s` for str patterns (White_Space without U+001C...U+001F).
    static func isRegexSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// The split class of `s` (ASCII through a table, the rest by general category).
    @_spi(Testing) public static func splitClass(_ s: Unicode.Scalar) -> SplitClass {
        let v = s.value
        if v < 0x80 { return asciiClasses[Int(v)] }
        if isRegexSpace(v) || v == 0x345 { return .skipped }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    private static let asciiClasses: [SplitClass] = (0..<128).map { v -> SplitClass in
        switch UInt8(v) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: return isRegexSpace(UInt32(v)) ? .skipped : .other
        }
    }

    /// Python's `str.lower()`: the full lowercase mapping of each scalar (İ -> i + U+0307), except that capital
    /// sigma becomes final ς when a cased letter precedes it and none follows (case-ignorable scalars such as
    /// apostrophes and combining marks skipped in both directions), exactly as CPython's `handle_capital_sigma`.
    @_spi(Testing) public static func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, s) in text.enumerated() {
            let v = s.value
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(UInt8(v + 32)) : s)
            } else if v == 0x3A3 {
                out.append(isFinalSigma(text, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else if s.properties.changesWhenLowercased {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            } else {
                out.append(s)
            }
        }
        return out
    }

    /// Unicode's Final_Sigma condition as CPython tests it: `\p{cased} \p{case-ignorable}* Σ` not followed by
    /// `\p{case-ignorable}* \p{cased}`.
    private static func isFinalSigma(_ text: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && text[j].properties.isCased else { return false }
        j = i + 1
        while j < text.count && text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }
}
