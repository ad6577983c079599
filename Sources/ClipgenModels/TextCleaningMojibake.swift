// Port of ftfy 6.3.1's mojibake repair, `fix_encoding` (ftfy/__init__.py fix_encoding_and_explain and
// _fix_encoding_one_step_and_explain) with its transcoders from ftfy/fixes.py (restore_byte_a0,
// replace_lossy_sequences, decode_inconsistent_utf8) and ftfy/bad_codecs (the sloppy-* charmaps and the
// utf-8-variants decoder, TextCleaningUTF8.swift). Detection is MojibakeBadness.isBad (TextCleaningBadness.swift);
// the codecs' byte tables and the character sets are generated from Python and ftfy (TextCleaningTables.swift).

/// A single-byte codec of ftfy: a byte -> code point table, and its inverse.
struct ByteCodec {
    let name: String
    /// The code point of each byte; nil where the codec has none (strict windows-1252 only).
    let decoding: [UInt32?]
    let encoding: [UInt32: UInt8]

    init(name: String, decoding: [UInt32?]) {
        precondition(decoding.count == 256, "\(name): \(decoding.count) bytes")
        self.name = name
        self.decoding = decoding
        var encoding: [UInt32: UInt8] = [:]
        for (byte, c) in decoding.enumerated() { if let c { encoding[c] = UInt8(byte) } }
        self.encoding = encoding
    }

    /// ftfy's `possible_encoding`: every character of `text` has a byte in this codec.
    func canEncode(_ text: [Unicode.Scalar]) -> Bool { text.allSatisfy { encoding[$0.value] != nil } }

    /// `text.encode(name)` for text that `canEncode`.
    func encode(_ text: [Unicode.Scalar]) -> [UInt8] { text.map { encoding[$0.value]! } }

    /// `bytes.decode(name)`, nil where Python raises UnicodeDecodeError.
    func decode(_ bytes: [UInt8]) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            guard let c = decoding[Int(b)] else { return nil }
            out.append(Unicode.Scalar(c)!)
        }
        return out
    }

    /// `chardata.CHARMAP_ENCODINGS` in ftfy's order of trying them, then strict "windows-1252".
    static let all: [ByteCodec] = {
        var codecs: [ByteCodec] = []
        var name = "", table: [UInt32?] = []
        for entry in TextCleaningTables.byteCodecs.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if entry.hasSuffix(":") {
                if !name.isEmpty { codecs.append(ByteCodec(name: name, decoding: table)) }
                name = String(entry.dropLast())
                table = []
            } else {
                table.append(entry == "_" ? nil : UInt32(entry, radix: 16)!)
            }
        }
        codecs.append(ByteCodec(name: name, decoding: table))
        return codecs
    }()

    static let charmapEncodings = Array(all.dropLast())
    static let windows1252 = all.last!
}

@_spi(Testing) public enum Mojibake {
    /// ftfy's `fix_encoding` with its default configuration: one repair step at a time until nothing changes.
    @_spi(Testing) public static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var text = text
        while true {
            let fixed = fixOneStep(text)
            if fixed == text { return text }
            text = fixed
        }
    }

    /// `_fix_encoding_one_step_and_explain`: re-decode text that looks like UTF-8 read in a single-byte codec;
    /// failing that, decode embedded UTF-8 mojibake on its own, then treat Latin-1 C1 controls as Windows-1252.
    static func fixOneStep(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.allSatisfy(\.isASCII) || !MojibakeBadness.isBad(text) { return text }
        var latin1Possible = false
        for codec in ByteCodec.charmapEncodings where codec.canEncode(text) {
            if codec.name == "latin-1" { latin1Possible = true }
            var bytes = codec.encode(text)
            // An ASCII space where UTF-8 needs 0xA0 (not in MacRoman, where it would be an en dash and a space).
            if codec.name != "macroman" && firstMatch(alteredUTF8, in: bytes, from: 0) != nil {
                bytes = restoreByteA0(bytes)
            }
            if codec.name.hasPrefix("sloppy") { bytes = replaceLossySequences(bytes) }
            let decoded = bytes.contains(0xED) || bytes.contains(0xC0) ? decodeUTF8Variants(bytes) : decodeUTF8(bytes)
            if let decoded { return decoded }
        }
        let inconsistent = decodeInconsistentUTF8(text)
        if inconsistent != text { return inconsistent }
        // Latin-1 meant as Windows-1252 (ftfy also asks whether "windows-1252" was a possible encoding, which is
        // never true: only "sloppy-windows-1252" is in CHARMAP_ENCODINGS).
        if latin1Possible, let fixed = ByteCodec.windows1252.decode(text.map { UInt8($0.value) }), fixed != text {
            return fixed
        }
        if text.contains(where: { (0x80...0x9F).contains($0.value) }) { return TextCleaning.fixC1Controls(text) }
        return text
    }

    // MARK: Byte patterns

    /// A fixed-length bytes regex: one set of byte ranges per position, written "C2-DF 1A" (hex, "-" ranges).
    typealias BytePattern = [[ClosedRange<UInt8>]]

    private static func pattern(_ positions: String...) -> BytePattern {
        positions.map { position in
            position.split(separator: " ").map { item in
                let bounds = item.split(separator: "-").map { UInt8($0, radix: 16)! }
                return bounds[0]...bounds[bounds.count - 1]
            }
        }
    }

    /// The leftmost match of the alternatives at or after `start`, the first alternative that matches there
    /// (Python's re.search on an alternation of fixed-length patterns).
    private static func firstMatch(_ alternatives: [BytePattern], in bytes: [UInt8], from start: Int) -> Range<Int>? {
        for i in start..<bytes.count {
            for p in alternatives where i + p.count <= bytes.count {
                let fits = p.indices.allSatisfy { k in p[k].contains { $0.contains(bytes[i + k]) } }
                if fits { return i..<(i + p.count) }
            }
        }
        return nil
    }

    /// re.sub over `alternatives` with `replace(match)`.
    private static func substitute(_ alternatives: [BytePattern], in bytes: [UInt8],
                                   _ replace: (ArraySlice<UInt8>) -> [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var position = 0
        while let match = firstMatch(alternatives, in: bytes, from: position) {
            out += bytes[position..<match.lowerBound]
            out += replace(bytes[match])
            position = match.upperBound
        }
        return out + bytes[position...]
    }

    // MARK: restore_byte_a0

    /// chardata.ALTERED_UTF8_RE: UTF-8 sequences that would be valid with 0xA0 in place of a space.
    private static let alteredUTF8: [BytePattern] = [
        pattern("C2 C3 C5 CE D0 D9", "20"),
        pattern("E2-E3", "20", "80-84 86-9F A1-BF"),
        pattern("E0-E3", "80-84 86-9F A1-BF", "20"),
        pattern("F0", "20", "80-BF", "80-BF"),
        pattern("F0", "80-BF", "20", "80-BF"),
        pattern("F0", "80-BF", "80-BF", "20"),
    ]

    /// fixes.A_GRAVE_WORD_RE's exceptions: "Ã " followed by one of these is not "à " (Portuguese "à quele").
    private static let aGraveExceptions: [[UInt8]] = [" ", "quele", "quela", "quilo", "s "].map { Array($0.utf8) }

    /// `fixes.restore_byte_a0`: "\xC3 " not followed by an exception becomes "\xC3\xA0 ", then every
    /// ALTERED_UTF8_RE match gets 0xA0 for its spaces.
    static func restoreByteA0(_ bytes: [UInt8]) -> [UInt8] {
        var withAGrave: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0xC3 && i + 1 < bytes.count && bytes[i + 1] == 0x20
                && !aGraveExceptions.contains(where: { bytes[(i + 2)...].starts(with: $0) }) {
                withAGrave += [0xC3, 0xA0, 0x20]
                i += 2
            } else {
                withAGrave.append(bytes[i])
                i += 1
            }
        }
        return substitute(alteredUTF8, in: withAGrave) { match in match.map { $0 == 0x20 ? 0xA0 : $0 } }
    }

    // MARK: replace_lossy_sequences

    /// chardata.LOSSY_UTF8_RE: UTF-8 (or CESU-8) sequences with a byte lost to 0x1A (a sloppy codec's U+FFFD)
    /// or, at most once per sequence, to "?".
    private static let lossyUTF8: [BytePattern] = [
        pattern("C2-DF", "1A"),
        pattern("C2-C3", "3F"),
        pattern("ED", "A0-AF", "1A 3F", "ED", "B0-BF", "1A 3F 80-BF"),
        pattern("ED", "A0-AF", "1A 3F 80-BF", "ED", "B0-BF", "1A 3F"),
        pattern("E0-EF", "1A 3F", "1A 80-BF"),
        pattern("E0-EF", "1A 80-BF", "1A 3F"),
        pattern("F0-F4", "1A 3F", "1A 80-BF", "1A 80-BF"),
        pattern("F0-F4", "1A 80-BF", "1A 3F", "1A 80-BF"),
        pattern("F0-F4", "1A 80-BF", "1A 80-BF", "1A 3F"),
        pattern("1A"),
    ]

    /// `fixes.replace_lossy_sequences`: each LOSSY_UTF8_RE match becomes the UTF-8 of U+FFFD.
    static func replaceLossySequences(_ bytes: [UInt8]) -> [UInt8] {
        substitute(lossyUTF8, in: bytes) { _ in [0xEF, 0xBF, 0xBD] }
    }

    // MARK: decode_inconsistent_utf8

    /// `fixes.decode_inconsistent_utf8`: every UTF8_DETECTOR_RE match shorter than the text that is_bad is
    /// replaced by its own fix_encoding.
    static func decodeInconsistentUTF8(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let classes = text.map(MojibakeClass.init)
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            let end = utf8DetectorMatchEnd(classes, at: i)
            guard end > i else {
                out.append(text[i])
                i += 1
                continue
            }
            let piece = Array(text[i..<end])
            out += piece.count < text.count && MojibakeBadness.isBad(piece) ? fixEncoding(piece) : piece
            i = end
        }
        return out
    }

    /// Where a UTF8_DETECTOR_RE match starting at `start` ends (`start` when there is none):
    ///     (?<![{utf8_continuation_strict}]) ( [{first_of_2}][{cont}] | [{first_of_3}][{cont}]{2}
    ///                                         | [{first_of_4}][{cont}]{3} )+
    /// The repetition is greedy and nothing follows it, so each round takes the first alternative that fits.
    private static func utf8DetectorMatchEnd(_ classes: [MojibakeClass], at start: Int) -> Int {
        if start > 0 && classes[start - 1].contains(.utf8ContinuationStrict) { return start }
        func continues(_ from: Int, _ count: Int) -> Bool {
            from + count <= classes.count
                && classes[from..<(from + count)].allSatisfy { $0.contains(.utf8Continuation) }
        }
        var j = start
        while j < classes.count {
            if classes[j].contains(.utf8FirstOf2) && continues(j + 1, 1) {
                j += 2
            } else if classes[j].contains(.utf8FirstOf3) && continues(j + 1, 2) {
                j += 3
            } else if classes[j].contains(.utf8FirstOf4) && continues(j + 1, 3) {
                j += 4
            } else {
                break
            }
        }
        return j
    }
}
