// HTML character references, decoded the two ways open_clip's cleaning does: ftfy's cautious `unescape_html`
// (only `&name;` / `&#...;` forms, plus all-caps names) inside `ftfy.fix_text`, then Python's `html.unescape`
// (HTML5 rules: legacy names without ";", longest-prefix names, numeric references with the HTML5 fix-ups)
// twice. Ported from CPython 3.11 Lib/html/__init__.py and ftfy 6.3 fixes.py; the tables are generated
// (TextCleaningTables.swift).

enum HTMLEntities {
    /// `html.entities.html5`: name (with or without the final ";") -> replacement.
    static let html5: [String: [Unicode.Scalar]] = parse(TextCleaningTables.html5Entities)
    /// ftfy's extra all-caps names ("EACUTE;" -> "É"), none of which is an html5 name.
    static let ftfyUppercase: [String: [Unicode.Scalar]] = parse(TextCleaningTables.ftfyUppercaseEntities)
    /// The longest html5 name (Python's named-reference scan reads at most 32 characters).
    private static let maxNamedLength = 32

    // MARK: Python html.unescape

    /// Python's `html.unescape(s)`: every `&#digits;?`, `&#xhex;?` and `&name;?` reference, left to right.
    static func pythonUnescape(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == "&", let (replacement, end) = pythonReference(s, at: i) {
                out.append(contentsOf: replacement)
                i = end
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// The reference starting at the "&" at `start`, as CPython's `_charref` pattern and `_replace_charref`
    /// read it: the replacement and the index after the match, or nil where the pattern does not match.
    private static func pythonReference(_ s: [Unicode.Scalar], at start: Int) -> ([Unicode.Scalar], Int)? {
        var i = start + 1
        guard i < s.count else { return nil }
        if s[i] == "#" {
            i += 1
            let hex = i < s.count && (s[i] == "x" || s[i] == "X")
            if hex { i += 1 }
            let digitsStart = i
            while i < s.count && digitValue(s[i], hex: hex) != nil { i += 1 }
            // `#[0-9]+` failing falls through to the named branch, which cannot start with "#".
            guard i > digitsStart else { return nil }
            let number = s[digitsStart..<i].reduce(UInt32(0)) { acc, d in
                min(acc &* (hex ? 16 : 10) &+ digitValue(d, hex: hex)!, 0x11_0000)  // saturate past U+10FFFF
            }
            if i < s.count && s[i] == ";" { i += 1 }
            return (numericReplacement(number), i)
        }
        // `[^\t\n\f <&#;]{1,32};?`
        while i < s.count && i - start - 1 < maxNamedLength && !"\t\n\u{0C} <&#;".unicodeScalars.contains(s[i]) {
            i += 1
        }
        guard i > start + 1 else { return nil }
        if i < s.count && s[i] == ";" { i += 1 }
        let name = s[(start + 1)..<i]
        if let r = html5[String(String.UnicodeScalarView(name))] { return (r, i) }
        // The longest prefix (at least two characters) that is a name; the rest stays as text.
        var length = name.count - 1
        while length > 1 {
            let prefix = name.prefix(length)
            if let r = html5[String(String.UnicodeScalarView(prefix))] { return (r + name.dropFirst(length), i) }
            length -= 1
        }
        return (["&"] + name, i)
    }

    /// CPython's numeric rules: the HTML5 table of invalid references (0x80...0x9F as Windows-1252, 0 and
    /// surrogates and out-of-range as U+FFFD, 0x0D kept), then noncharacters and most controls dropped.
    private static func numericReplacement(_ n: UInt32) -> [Unicode.Scalar] {
        if n == 0 { return ["\u{FFFD}"] }
        if n == 0x0D { return ["\r"] }
        if (0x80...0x9F).contains(n) { return [c1Replacement[Int(n - 0x80)]] }
        if (0xD800...0xDFFF).contains(n) || n > 0x10FFFF { return ["\u{FFFD}"] }
        if (0x01...0x08).contains(n) || (0x0E...0x1F).contains(n) || n == 0x0B || n == 0x7F
            || (0xFDD0...0xFDEF).contains(n) || (n & 0xFFFE) == 0xFFFE { return [] }
        return [Unicode.Scalar(n)!]
    }

    /// Windows-1252 for 0x80...0x9F, undefined bytes as themselves (Python's `_invalid_charrefs`; the same
    /// table as ftfy's sloppy-windows-1252).
    static let c1Replacement: [Unicode.Scalar] = {
        let table = parseCodePoints(TextCleaningTables.c1Controls)
        return (0x80...0x9F).map { table[UInt32($0)]![0] }
    }()

    private static func digitValue(_ s: Unicode.Scalar, hex: Bool) -> UInt32? {
        switch s.value {
        case 0x30...0x39: return s.value - 0x30
        case 0x41...0x46 where hex: return s.value - 0x41 + 10
        case 0x61...0x66 where hex: return s.value - 0x61 + 10
        default: return nil
        }
    }

    // MARK: ftfy unescape_html

    /// ftfy's `unescape_html`: each match of `&#?[0-9A-Za-z]{1,24};` that names an html5 entity (with ";") or
    /// one of ftfy's all-caps names is replaced; `&#...;` is decoded by `html.unescape` unless the result
    /// still contains ";" (the reference did not parse).
    static func ftfyUnescape(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "&", let end = ftfyEntityEnd(s, at: i) else {
                out.append(s[i])
                i += 1
                continue
            }
            let entity = Array(s[i..<end])
            let name = String(String.UnicodeScalarView(entity.dropFirst()))
            if let r = html5[name] ?? ftfyUppercase[name] {
                out.append(contentsOf: r)
            } else if entity[1] == "#" {
                let decoded = pythonUnescape(entity)
                out.append(contentsOf: decoded.contains(";") ? entity : decoded)
            } else {
                out.append(contentsOf: entity)
            }
            i = end
        }
        return out
    }

    /// The end of a match of `&#?[0-9A-Za-z]{1,24};` at `start`, or nil.
    private static func ftfyEntityEnd(_ s: [Unicode.Scalar], at start: Int) -> Int? {
        func alphanumericRun(from first: Int) -> Int? {
            var i = first
            while i < s.count && i - first < 24 && isASCIIAlphanumeric(s[i]) { i += 1 }
            return i > first && i < s.count && s[i] == ";" ? i + 1 : nil
        }
        if start + 1 < s.count && s[start + 1] == "#", let end = alphanumericRun(from: start + 2) { return end }
        return alphanumericRun(from: start + 1)
    }

    private static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    // MARK: Tables

    /// `name=HEX[,HEX] ...` -> name: scalars.
    private static func parse(_ table: String) -> [String: [Unicode.Scalar]] {
        var out: [String: [Unicode.Scalar]] = [:]
        for entry in table.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = entry.split(separator: "=", maxSplits: 1)
            out[String(parts[0])] = scalars(parts[1])
        }
        return out
    }

    /// `HEX=HEX[,HEX] ...` -> code point: scalars.
    static func parseCodePoints(_ table: String) -> [UInt32: [Unicode.Scalar]] {
        var out: [UInt32: [Unicode.Scalar]] = [:]
        for entry in table.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = entry.split(separator: "=", maxSplits: 1)
            out[UInt32(parts[0], radix: 16)!] = scalars(parts[1])
        }
        return out
    }

    private static func scalars(_ hexList: Substring) -> [Unicode.Scalar] {
        hexList.split(separator: ",").map { Unicode.Scalar(UInt32($0, radix: 16)!)! }
    }
}
