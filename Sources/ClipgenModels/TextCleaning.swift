// open_clip's prompt cleaning, `_clean_lower` in open_clip/tokenizer.py (the SimpleTokenizer default):
//
//     whitespace_clean(basic_clean(text)).lower()
//     basic_clean = ftfy.fix_text, html.unescape twice, strip;  whitespace_clean = " ".join(text.split())
//
// ftfy.fix_text (ftfy 6.3.1) is ported step for step, mojibake repair included: line-by-line processing with
// HTML unescaping switched off from the first line holding "<" on, each line repeated until nothing changes:
// unescape_html, fix_encoding (TextCleaningMojibake.swift: the badness heuristic, the ten single-byte codecs,
// restore_byte_a0, replace_lossy_sequences, utf-8-variants, decode_inconsistent_utf8, Latin-1 C1 controls as
// Windows-1252), fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks,
// remove_terminal_escapes, remove_control_chars, NFC. What is NOT reproduced:
// - `fix_surrogates`: a Swift String cannot hold lone or paired surrogate code points.
// - `max_decode_length`: ftfy fixes lines longer than 1,000,000 characters in pieces; here they are one piece.
// - Unicode versions: BADNESS_RE's `\w` (str.isalnum) and NFC use Swift's Unicode tables, not Python 3.11's (14.0);
//   they differ only for characters assigned since.
// And one failure of Python's: `html.unescape` raises on a numeric reference of more than 4,300 digits (the
// limit of `int()`), so open_clip cannot tokenize such a prompt; here it decodes as U+FFFD.

import Foundation

@_spi(Testing) public enum TextCleaning {
    /// open_clip's clean="lower" of `text`, as Unicode scalars ready for the split pattern.
    static func clean(_ text: String) -> [Unicode.Scalar] {
        var s = fixText(Array(text.unicodeScalars))
        s = HTMLEntities.pythonUnescape(HTMLEntities.pythonUnescape(s))
        // strip, then " ".join(split()) (which strips again): runs of Python whitespace become one space.
        var collapsed: [Unicode.Scalar] = []
        collapsed.reserveCapacity(s.count)
        var pendingSpace = false
        for c in s {
            if PythonUnicode.isSpace(c.value) {
                pendingSpace = !collapsed.isEmpty
            } else {
                if pendingSpace { collapsed.append(" ") }
                pendingSpace = false
                collapsed.append(c)
            }
        }
        return PythonUnicode.lowercased(collapsed)
    }

    // MARK: ftfy.fix_text

    /// `ftfy.fix_text(text)`: each line (ending after its "\n") is fixed on its own;
    /// the "auto" HTML unescaping is off for every line from the first one that contains "<" (ftfy keeps the
    /// switched-off configuration for the remaining lines).
    @_spi(Testing) public static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: "\n").map { $0 + 1 } ?? text.count
            var segment = Array(text[start..<end])
            if segment.contains("<") { unescapeHTML = false }
            // ftfy's fix_and_explain: apply every fixer in order until a whole pass changes nothing.
            while true {
                let before = segment
                if unescapeHTML { segment = HTMLEntities.ftfyUnescape(segment) }
                segment = Mojibake.fixEncoding(segment)
                segment = fixC1Controls(segment)
                segment = translate(segment, ligatures)
                segment = translate(segment, characterWidth)
                segment = segment.map(uncurled)
                segment = fixLineBreaks(segment)
                segment = removeTerminalEscapes(segment)
                segment.removeAll(where: isRemovedControl)
                segment = nfc(segment)
                if segment == before { break }
            }
            out += segment
            start = end
        }
        return out
    }

    /// `fix_c1_controls`: U+0080...U+009F read as Windows-1252 bytes, as web browsers do.
    static func fixC1Controls(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        s.map { (0x80...0x9F).contains($0.value) ? HTMLEntities.c1Replacement[Int($0.value - 0x80)] : $0 }
    }

    /// `fix_latin_ligatures`: ﬁ -> fi, Ǆ -> DŽ, ĳ -> ij, ŉ -> ʼn ... (ftfy's LIGATURES; not æ or œ).
    static let ligatures: [UInt32: [Unicode.Scalar]] = [
        0x132: ["I", "J"], 0x133: ["i", "j"], 0x149: ["\u{2BC}", "n"],
        0x1C4: ["D", "\u{17D}"], 0x1C5: ["D", "\u{17E}"], 0x1C6: ["d", "\u{17E}"],
        0x1C7: ["L", "J"], 0x1C8: ["L", "j"], 0x1C9: ["l", "j"], 0x1CA: ["N", "J"], 0x1CB: ["N", "j"],
        0x1CC: ["n", "j"], 0x1F1: ["D", "Z"], 0x1F2: ["D", "z"], 0x1F3: ["d", "z"],
        0xFB00: ["f", "f"], 0xFB01: ["f", "i"], 0xFB02: ["f", "l"], 0xFB03: ["f", "f", "i"],
        0xFB04: ["f", "f", "l"], 0xFB05: ["\u{17F}", "t"], 0xFB06: ["s", "t"],
    ]

    /// `fix_character_width`: full-width ASCII and half-width kana and Hangul to their NFKC forms, U+3000 to space.
    static let characterWidth = HTMLEntities.parseCodePoints(TextCleaningTables.characterWidth)

    private static func translate(_ s: [Unicode.Scalar], _ table: [UInt32: [Unicode.Scalar]]) -> [Unicode.Scalar] {
        guard s.contains(where: { table[$0.value] != nil }) else { return s }
        return s.flatMap { table[$0.value] ?? [$0] }
    }

    /// `uncurl_quotes`: ʼ ‘ ’ ‚ ‛ -> ' and “ ” „ ‟ -> ".
    private static func uncurled(_ c: Unicode.Scalar) -> Unicode.Scalar {
        switch c.value {
        case 0x2BC, 0x2018...0x201B: return "'"
        case 0x201C...0x201F: return "\""
        default: return c
        }
    }

    /// `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and NEL become "\n".
    private static func fixLineBreaks(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        for (i, c) in s.enumerated() {
            switch c.value {
            case 0x0D where i + 1 < s.count && s[i + 1] == "\n": continue
            case 0x0D, 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(c)
            }
        }
        return out
    }

    /// `remove_terminal_escapes`: ESC "[" (decimal digits and ";")* one ASCII letter. Python's `\d` in a str
    /// pattern is any decimal digit (Nd), not only 0-9.
    private static func removeTerminalEscapes(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("\u{1B}") else { return s }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < s.count {
            if s[i] == "\u{1B}" && i + 1 < s.count && s[i + 1] == "[" {
                var j = i + 2
                while j < s.count && (s[j] == ";" || s[j].properties.generalCategory == .decimalNumber) { j += 1 }
                if j < s.count && s[j].isASCII && s[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    /// `remove_control_chars`: C0 controls except \t \n \f \r, DEL, deprecated Arabic format controls
    /// U+206A...U+206F, the BOM, and interlinear annotation / object replacement U+FFF9...U+FFFC.
    private static func isRemovedControl(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    /// Unicode NFC. Nothing below U+0300 changes under NFC (no combining marks, no singletons), so prompts in
    /// plain Latin skip Foundation.
    @_spi(Testing) public static func nfc(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains(where: { $0.value >= 0x300 }) else { return s }
        let text = String(String.UnicodeScalarView(s))
        return Array(text.precomposedStringWithCanonicalMapping.unicodeScalars)
    }
}
