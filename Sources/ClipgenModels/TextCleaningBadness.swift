// Port of ftfy 6.3.1's mojibake detector: `is_bad` / BADNESS_RE (ftfy/badness.py) and the character classes of
// UTF8_DETECTOR_RE (ftfy/chardata.py UTF8_CLUES). The sets come from TextCleaningTables.mojibakeCharacterSets
// (generated from ftfy itself); the regular expressions are written out here as sequences of set matches.

/// The ftfy character sets a code point belongs to.
struct MojibakeClass: OptionSet {
    let rawValue: UInt32

    // badness.MOJIBAKE_CATEGORIES
    static let common = MojibakeClass(rawValue: 1 << 0)
    static let c1 = MojibakeClass(rawValue: 1 << 1)
    static let bad = MojibakeClass(rawValue: 1 << 2)
    static let law = MojibakeClass(rawValue: 1 << 3)
    static let currency = MojibakeClass(rawValue: 1 << 4)
    static let startPunctuation = MojibakeClass(rawValue: 1 << 5)
    static let endPunctuation = MojibakeClass(rawValue: 1 << 6)
    static let numeric = MojibakeClass(rawValue: 1 << 7)
    static let kaomoji = MojibakeClass(rawValue: 1 << 8)
    static let upperAccented = MojibakeClass(rawValue: 1 << 9)
    static let lowerAccented = MojibakeClass(rawValue: 1 << 10)
    static let upperCommon = MojibakeClass(rawValue: 1 << 11)
    static let lowerCommon = MojibakeClass(rawValue: 1 << 12)
    static let box = MojibakeClass(rawValue: 1 << 13)
    // chardata.UTF8_CLUES
    static let utf8FirstOf2 = MojibakeClass(rawValue: 1 << 14)
    static let utf8FirstOf3 = MojibakeClass(rawValue: 1 << 15)
    static let utf8FirstOf4 = MojibakeClass(rawValue: 1 << 16)
    static let utf8Continuation = MojibakeClass(rawValue: 1 << 17)
    static let utf8ContinuationStrict = MojibakeClass(rawValue: 1 << 18)

    /// The table's set names, as ftfy spells them.
    private static let names: [String: MojibakeClass] = [
        "common": .common, "c1": .c1, "bad": .bad, "law": .law, "currency": .currency,
        "start_punctuation": .startPunctuation, "end_punctuation": .endPunctuation, "numeric": .numeric,
        "kaomoji": .kaomoji, "upper_accented": .upperAccented, "lower_accented": .lowerAccented,
        "upper_common": .upperCommon, "lower_common": .lowerCommon, "box": .box,
        "utf8_first_of_2": .utf8FirstOf2, "utf8_first_of_3": .utf8FirstOf3, "utf8_first_of_4": .utf8FirstOf4,
        "utf8_continuation": .utf8Continuation, "utf8_continuation_strict": .utf8ContinuationStrict,
    ]

    /// Every code point in at least one set, with all the sets it is in.
    static let table: [UInt32: MojibakeClass] = {
        var table: [UInt32: MojibakeClass] = [:]
        var current: MojibakeClass = []
        for entry in TextCleaningTables.mojibakeCharacterSets.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if entry.hasSuffix(":") {
                current = names[String(entry.dropLast())]!
                continue
            }
            let bounds = entry.split(separator: "-").map { UInt32($0, radix: 16)! }
            for v in bounds[0]...bounds[bounds.count - 1] { table[v, default: []].insert(current) }
        }
        precondition(Set(table.values.map(\.rawValue)).reduce(0, |) == (1 << names.count) - 1)
        return table
    }()

    init(rawValue: UInt32) { self.rawValue = rawValue }

    init(_ c: Unicode.Scalar) { self = Self.table[c.value] ?? [] }
}

enum MojibakeBadness {
    /// One position of a BADNESS_RE alternative.
    private enum Step {
        /// A character in one of `classes` or among `characters` (one bracketed class of the pattern).
        case oneOf(MojibakeClass, Set<UInt32>)
        /// `\s`: str.isspace().
        case whitespace
        /// `\s?`.
        case optionalWhitespace
        /// `\w`: str.isalnum() or "_".
        case wordCharacter
        /// `[^A-Za-z]`.
        case notASCIILetter
        /// `.`: anything but "\n".
        case notNewline
        /// `^`: the start of the text.
        case textStart
    }

    private static func set(_ classes: MojibakeClass, _ characters: String = "") -> Step {
        .oneOf(classes, Set(characters.unicodeScalars.map(\.value)))
    }

    private static func char(_ characters: String) -> Step { set([], characters) }

    private static func literal(_ text: String) -> [Step] { text.unicodeScalars.map { char(String($0)) } }

    private static let lower = "abcdefghijklmnopqrstuvwxyz"
    private static let letters = lower + lower.uppercased()

    /// The sets most alternatives start or end with: [{lower_accented}{upper_accented}{box}...] in ftfy.
    private static let accented: MojibakeClass = [.lowerAccented, .upperAccented]
    private static let punctuation: MojibakeClass = [.startPunctuation, .endPunctuation]

    /// BADNESS_RE's alternatives in ftfy's order, each under the pattern text it ports.
    private static let alternatives: [[Step]] = [
        // [{c1}]
        [set(.c1)],
        // [{bad}{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}]
        //   [{bad}]
        [set([.bad, accented, .box, punctuation, .currency, .numeric, .law]), set(.bad)],
        // [a-zA-Z] [{lower_common}{upper_common}] [{bad}]
        [char(letters), set([.lowerCommon, .upperCommon]), set(.bad)],
        // [{bad}] [{lower_accented}{upper_accented}{box}{start_punctuation}{end_punctuation}{currency}{numeric}{law}]
        [set(.bad), set([accented, .box, punctuation, .currency, .numeric, .law])],
        // [{lower_accented}{lower_common}{box}{end_punctuation}{currency}{numeric}] [{upper_accented}]
        [set([.lowerAccented, .lowerCommon, .box, .endPunctuation, .currency, .numeric]), set(.upperAccented)],
        // [{box}{end_punctuation}{currency}{numeric}] [{lower_accented}]
        [set([.box, .endPunctuation, .currency, .numeric]), set(.lowerAccented)],
        // [{lower_accented}{box}{end_punctuation}] [{currency}]
        [set([.lowerAccented, .box, .endPunctuation]), set(.currency)],
        // \s [{upper_accented}] [{currency}]
        [.whitespace, set(.upperAccented), set(.currency)],
        // [{upper_accented}{box}] [{numeric}{law}]
        [set([.upperAccented, .box]), set([.numeric, .law])],
        // [{lower_accented}{upper_accented}{box}{currency}{end_punctuation}] [{start_punctuation}] [{numeric}]
        [set([accented, .box, .currency, .endPunctuation]), set(.startPunctuation), set(.numeric)],
        // [{lower_accented}{upper_accented}{currency}{numeric}{box}{law}] [{end_punctuation}] [{start_punctuation}]
        [set([accented, .currency, .numeric, .box, .law]), set(.endPunctuation), set(.startPunctuation)],
        // [{currency}{numeric}{box}] [{start_punctuation}]
        [set([.currency, .numeric, .box]), set(.startPunctuation)],
        // [a-z] [{upper_accented}] [{start_punctuation}{currency}]
        [char(lower), set(.upperAccented), set([.startPunctuation, .currency])],
        // [{box}] [{kaomoji}]
        [set(.box), set(.kaomoji)],
        // [{lower_accented}{upper_accented}{currency}{numeric}{start_punctuation}{end_punctuation}{law}] [{box}]
        [set([accented, .currency, .numeric, punctuation, .law]), set(.box)],
        // [{box}] [{end_punctuation}]
        [set(.box), set(.endPunctuation)],
        // [{lower_accented}{upper_accented}] [{start_punctuation}{end_punctuation}] \w
        [set(accented), set(punctuation), .wordCharacter],
        // [Œœ][^A-Za-z]  (the ligature œ when not followed by an unaccented Latin letter)
        [char("\u{152}\u{153}"), .notASCIILetter],
        // [{upper_accented}]°
        [set(.upperAccented), char("\u{B0}")],
        // [ÂÃÎÐ][€œŠš¢£Ÿž\xa0\xad®©°·»{start_punctuation}{end_punctuation}–—´]
        [char("\u{C2}\u{C3}\u{CE}\u{D0}"),
         set(punctuation, "\u{20AC}\u{153}\u{160}\u{161}\u{A2}\u{A3}\u{178}\u{17E}\u{A0}\u{AD}\u{AE}\u{A9}\u{B0}\u{B7}"
             + "\u{BB}\u{2013}\u{2014}\u{B4}")],
        // × [²³]
        [char("\u{D7}"), char("\u{B2}\u{B3}")],
        // [ØÙ] [{common}{currency}{bad}{numeric}{start_punctuation}ŸŠ®°µ»] twice (Arabic in Windows-1252)
        [char("\u{D8}\u{D9}"), set(arabicFollower, arabicFollowerCharacters),
         char("\u{D8}\u{D9}"), set(arabicFollower, arabicFollowerCharacters)],
        // à[²µ¹¼½¾]
        [char("\u{E0}"), char("\u{B2}\u{B5}\u{B9}\u{BC}\u{BD}\u{BE}")],
        // √[±∂†≠®™´≤≥¥µø]  (MacRoman)
        [char("\u{221A}"),
         char("\u{B1}\u{2202}\u{2020}\u{2260}\u{AE}\u{2122}\u{B4}\u{2264}\u{2265}\u{A5}\u{B5}\u{F8}")],
        // ≈[°¢]
        [char("\u{2248}"), char("\u{B0}\u{A2}")],
        // ‚Ä[ìîïòôúùû†°¢π]
        literal("\u{201A}\u{C4}")
            + [char("\u{EC}\u{EE}\u{EF}\u{F2}\u{F4}\u{FA}\u{F9}\u{FB}\u{2020}\u{B0}\u{A2}\u{3C0}")],
        // ‚[âó][àä°ê]
        [char("\u{201A}"), char("\u{E2}\u{F3}"), char("\u{E0}\u{E4}\u{B0}\u{EA}")],
        // вЂ  (Windows-1251)
        literal("\u{432}\u{402}"),
        // [ВГРС][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°µ][ВГРС]
        [char(cyrillicCapitals), set([.c1, .bad, punctuation, .currency], "\u{B0}\u{B5}"), char(cyrillicCapitals)],
        // ГўВЂВ.[A-Za-z ]
        literal("\u{413}\u{45E}\u{412}\u{402}\u{412}") + [.notNewline, char(letters + " ")],
        // Ã[\xa0¡]
        [char("\u{C3}"), char("\u{A0}\u{A1}")],
        // [a-z]\s?[ÃÂ][ ]
        [char(lower), .optionalWhitespace, char("\u{C3}\u{C2}"), char(" ")],
        // ^[ÃÂ][ ]
        [.textStart, char("\u{C3}\u{C2}"), char(" ")],
        // [a-z.,?!{end_punctuation}] Â [ {start_punctuation}{end_punctuation}]
        [set(.endPunctuation, lower + ".,?!"), char("\u{C2}"), set(punctuation, " ")],
        // β€[™\xa0Ά\xad®°]  (Windows-1253)
        literal("\u{3B2}\u{20AC}") + [char("\u{2122}\u{A0}\u{386}\u{AD}\u{AE}\u{B0}")],
        // [ΒΓΞΟ][{c1}{bad}{start_punctuation}{end_punctuation}{currency}°][ΒΓΞΟ]
        [char(greekCapitals), set([.c1, .bad, punctuation, .currency], "\u{B0}"), char(greekCapitals)],
        // ā€  (Windows-1257)
        literal("\u{101}\u{20AC}"),
    ]

    private static let arabicFollower: MojibakeClass = [.common, .currency, .bad, .numeric, .startPunctuation]
    private static let arabicFollowerCharacters = "\u{178}\u{160}\u{AE}\u{B0}\u{B5}\u{BB}"
    private static let cyrillicCapitals = "\u{412}\u{413}\u{420}\u{421}"  // В Г Р С
    private static let greekCapitals = "\u{392}\u{393}\u{39E}\u{39F}"  // Β Γ Ξ Ο

    /// ftfy's `is_bad`: whether BADNESS_RE matches anywhere in `text`.
    static func isBad(_ text: [Unicode.Scalar]) -> Bool {
        let classes = text.map(MojibakeClass.init)
        for i in text.indices {
            for steps in alternatives where matches(steps[...], text, classes, at: i) { return true }
        }
        return false
    }

    private static func matches(_ steps: ArraySlice<Step>, _ text: [Unicode.Scalar],
                                _ classes: [MojibakeClass], at i: Int) -> Bool {
        guard let step = steps.first else { return true }
        let rest = steps.dropFirst()
        switch step {
        case .textStart:
            return i == 0 && matches(rest, text, classes, at: i)
        case .optionalWhitespace:
            if i < text.count && PythonUnicode.isSpace(text[i].value) && matches(rest, text, classes, at: i + 1) {
                return true
            }
            return matches(rest, text, classes, at: i)
        default:
            guard i < text.count, accepts(step, text[i], classes[i]) else { return false }
            return matches(rest, text, classes, at: i + 1)
        }
    }

    private static func accepts(_ step: Step, _ c: Unicode.Scalar, _ cClasses: MojibakeClass) -> Bool {
        switch step {
        case .oneOf(let classes, let characters):
            return !cClasses.isDisjoint(with: classes) || characters.contains(c.value)
        case .whitespace: return PythonUnicode.isSpace(c.value)
        case .wordCharacter: return c == "_" || isAlphanumeric(c)
        case .notASCIILetter: return !(c.isASCII && c.properties.isAlphabetic)
        case .notNewline: return c != "\n"
        case .optionalWhitespace, .textStart: return false
        }
    }

    /// Python's str.isalnum() for one character: a letter (Lu Ll Lt Lm Lo) or a character with a numeric type.
    private static func isAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return c.properties.numericType != nil
        }
    }
}
