// The two UTF-8 decoders ftfy's mojibake repair (TextCleaningMojibake.swift) re-decodes bytes with: Python's
// strict "utf-8" codec, and ftfy's "utf-8-variants" (ftfy/bad_codecs/utf8_variants.py), which also accepts
// CESU-8 surrogate pairs and Java's 0xC0 0x80 for U+0000. Both return nil where Python raises.

extension Mojibake {
    /// `bytes.decode("utf-8")`: shortest forms only, no surrogates, nothing above U+10FFFF.
    static func decodeUTF8(_ bytes: ArraySlice<UInt8>) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        func continuation(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> UInt32? {
            k < bytes.endIndex && range.contains(bytes[k]) ? UInt32(bytes[k] & 0x3F) : nil
        }
        while i < bytes.endIndex {
            let lead = bytes[i]
            var value: UInt32
            var length: Int
            switch lead {
            case 0x00...0x7F:
                value = UInt32(lead); length = 1
            case 0xC2...0xDF:
                guard let c1 = continuation(i + 1) else { return nil }
                value = (UInt32(lead & 0x1F) << 6) | c1; length = 2
            case 0xE0...0xEF:
                // E0 needs A0-BF after it (no overlongs), ED needs 80-9F (no surrogates).
                let second: ClosedRange<UInt8> = lead == 0xE0 ? 0xA0...0xBF : lead == 0xED ? 0x80...0x9F : 0x80...0xBF
                guard let c1 = continuation(i + 1, second), let c2 = continuation(i + 2) else { return nil }
                value = (UInt32(lead & 0x0F) << 12) | (c1 << 6) | c2; length = 3
            case 0xF0...0xF4:
                // F0 needs 90-BF (no overlongs), F4 needs 80-8F (nothing above U+10FFFF).
                let second: ClosedRange<UInt8> = lead == 0xF0 ? 0x90...0xBF : lead == 0xF4 ? 0x80...0x8F : 0x80...0xBF
                guard let c1 = continuation(i + 1, second), let c2 = continuation(i + 2),
                      let c3 = continuation(i + 3) else { return nil }
                value = (UInt32(lead & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3; length = 4
            default:
                return nil
            }
            out.append(Unicode.Scalar(value)!)
            i += length
        }
        return out
    }

    @_spi(Testing) public static func decodeUTF8(_ bytes: [UInt8]) -> [Unicode.Scalar]? { decodeUTF8(bytes[...]) }

    /// `bytes.decode("utf-8-variants")`, following its decoder step by step: strict UTF-8 up to the next
    /// SPECIAL_BYTES_RE match, then a Java null (0xC0 0x80) or a six-byte CESU-8 surrogate pair there; any other
    /// match (a lone surrogate, a truncated sequence) fails as the strict decoder does.
    @_spi(Testing) public static func decodeUTF8Variants(_ bytes: [UInt8]) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        var position = 0
        while position < bytes.count {
            guard let special = firstSpecialMatch(bytes, from: position) else {
                guard let rest = decodeUTF8(bytes[position...]) else { return nil }
                return out + rest
            }
            if special > position {
                guard let prefix = decodeUTF8(bytes[position..<special]) else { return nil }
                out += prefix
                position = special
            } else if bytes[position] == 0xC0 {
                guard bytes.count - position > 1 else { return nil }
                out.append("\u{0}")
                position += 2
            } else {
                guard bytes.count - position >= 6, matchesCESU8(bytes, at: position) else { return nil }
                let b = bytes[position..<(position + 6)].map(UInt32.init)
                let value = ((b[1] & 0x0F) << 16) + ((b[2] & 0x3F) << 10) + ((b[4] & 0x0F) << 6) + (b[5] & 0x3F)
                out.append(Unicode.Scalar(value + 0x10000)!)
                position += 6
            }
        }
        return out
    }

    /// Where `$` matches in a Python bytes pattern: at the end, or before a final "\n".
    private static func isEnd(_ bytes: [UInt8], _ k: Int) -> Bool {
        k == bytes.count || (k == bytes.count - 1 && bytes[k] == 0x0A)
    }

    /// A sequence of `(range|$)` groups matching at `k` (each group takes its byte, or else matches `$`).
    private static func matchesGroups(_ bytes: [UInt8], _ groups: ArraySlice<ClosedRange<UInt8>>, at k: Int) -> Bool {
        guard let range = groups.first else { return true }
        if k < bytes.count && range.contains(bytes[k]) && matchesGroups(bytes, groups.dropFirst(), at: k + 1) {
            return true
        }
        return isEnd(bytes, k) && matchesGroups(bytes, groups.dropFirst(), at: k)
    }

    /// CESU8_EXPR: \xed([\xa0-\xaf]|$)([\x80-\xbf]|$)(\xed|$)([\xb0-\xbf]|$)([\x80-\xbf]|$)
    private static func matchesCESU8(_ bytes: [UInt8], at k: Int) -> Bool {
        bytes[k] == 0xED
            && matchesGroups(bytes, [0xA0...0xAF, 0x80...0xBF, 0xED...0xED, 0xB0...0xBF, 0x80...0xBF], at: k + 1)
    }

    /// The start of the leftmost SPECIAL_BYTES_RE match at or after `start`: NULL_EXPR \xc0(\x80|$), CESU8_EXPR,
    /// or SURROGATE_EXPR \xed([\xa0-\xbf]|$)([\x80-\xbf]|$).
    private static func firstSpecialMatch(_ bytes: [UInt8], from start: Int) -> Int? {
        (start..<bytes.count).first { k in
            switch bytes[k] {
            case 0xC0: return matchesGroups(bytes, [0x80...0x80], at: k + 1)
            case 0xED: return matchesCESU8(bytes, at: k) || matchesGroups(bytes, [0xA0...0xBF, 0x80...0xBF], at: k + 1)
            default: return false
            }
        }
    }
}
