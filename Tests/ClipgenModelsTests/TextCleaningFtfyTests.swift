// The Swift port of ftfy.fix_text (TextCleaning.fixText, mojibake repair included) against ftfy itself: every
// golden prompt's "fix_text" (ftfy.fix_text(prompt), recorded by Goldens/make_tokenizer_goldens.py where it
// changes the prompt), among them ~400 generated mojibake strings and clean text that must stay as it is. Needs
// no Python. Plus the UTF-8 decoders the repair re-decodes with.

@_spi(Testing) import ClipgenModels
import Foundation
import Testing

struct TextCleaningFtfyTests {
    @Test func fixTextEqualsFtfyOnEveryGolden() throws {
        let goldens = try TokenizerFixtures.json("tokenizer_goldens.json")["goldens"] as! [[String: Any]]
        var changed = 0, repaired = 0, failures: [String] = []
        for golden in goldens {
            let text = Array((golden["text"] as! String).unicodeScalars)
            let expected = Array(((golden["fix_text"] as? String) ?? (golden["text"] as! String)).unicodeScalars)
            let fixed = TextCleaning.fixText(text)
            if fixed != expected {
                let show = { (s: [Unicode.Scalar]) in String(String.UnicodeScalarView(s)).debugDescription }
                failures.append("\(show(text)): got \(show(fixed)), ftfy \(show(expected))")
            }
            if expected != text { changed += 1 }
            if Mojibake.fixEncoding(text) != text { repaired += 1 }
        }
        print("ftfy.fix_text: \(goldens.count - failures.count) of \(goldens.count) golden prompts cleaned as ftfy "
              + "does (ftfy changes \(changed) of them; the mojibake repair changes \(repaired))")
        #expect(repaired >= 250, "the goldens should hold a few hundred mojibake prompts")
        #expect(failures.isEmpty, "\(failures.count) differ from ftfy:\n\(failures.prefix(25).joined(separator: "\n"))")
    }

    @Test func ftfyDocumentedExamples() {
        // The examples in ftfy's docstrings (ftfy/__init__.py fix_text, fix_encoding_and_explain, fix_encoding).
        let cases: [(String, String)] = [
            ("\u{E2}\u{153}\u{201D} No problems", "\u{2714} No problems"),
            ("s\u{C3}\u{B3}", "s\u{F3}"),
            ("voil\u{C3} le travail", "voil\u{E0} le travail"),
            ("\u{C3}\u{B3}", "\u{F3}"),
            ("&ATILDE;&SUP3;", "&ATILDE;&SUP3;"),
        ]
        for (input, output) in cases {
            #expect(Mojibake.fixEncoding(Array(input.unicodeScalars)) == Array(output.unicodeScalars),
                    "\(input.debugDescription)")
        }
    }

    @Test func strictUTF8AgreesWithSwiftsValidatingDecoder() {
        // Python's strict UTF-8 and Swift's validating decoder reject the same bytes: overlong forms, surrogates,
        // code points above U+10FFFF, stray continuation bytes, truncated sequences.
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 1...6, using: &generator)).map { _ in
                interesting.randomElement(using: &generator)!
            }
            let swift = String(validating: bytes, as: UTF8.self).map { Array($0.unicodeScalars) }
            #expect(Mojibake.decodeUTF8(bytes) == swift, "\(bytes.map { String($0, radix: 16) })")
        }
    }

    @Test func utf8VariantsDecodesCESU8AndJavaNull() {
        // U+1F600 as the UTF-8 of its surrogates D83D DE00; U+0000 as C0 80; a lone surrogate and a truncated
        // pair still fail, as in ftfy's codec.
        let cesu: [UInt8] = [0x61, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80, 0x62, 0xC0, 0x80]
        #expect(Mojibake.decodeUTF8Variants(cesu) == ["a", "\u{1F600}", "b", "\u{0}"])
        #expect(Mojibake.decodeUTF8Variants([0xED, 0xA0, 0xBD]) == nil)
        #expect(Mojibake.decodeUTF8Variants([0xED, 0xA0, 0xBD, 0x61, 0x62, 0x63]) == nil)
        #expect(Mojibake.decodeUTF8Variants([0x61, 0xC0]) == nil)
        #expect(Mojibake.decodeUTF8Variants([0xED, 0x95, 0x9C]) == ["\u{D55C}"])
        #expect(Mojibake.decodeUTF8Variants(Array("caf\u{E9}".utf8)) == Array("caf\u{E9}".unicodeScalars))
    }
}
