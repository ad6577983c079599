// Every code point, Swift against Python (Goldens/tokenizer_unicode.json, recorded with the goldens): the split
// pattern's classes under the regex module, str.lower(), str.isspace(), NFC, and IGNORECASE matching of the
// special tokens' and contractions' letters. Differences are allowed only for characters one side's Unicode
// database does not have yet: unassigned in Swift's, or assigned after the Python database's version.

@_spi(Testing) import ClipgenModels
import Foundation
import Testing

struct TokenizerUnicodeTests {
    let table: [String: Any]
    let pythonUnicode: (major: Int, minor: Int)

    init() throws {
        table = try TokenizerFixtures.json("tokenizer_unicode.json")
        let header = table["header"] as! [String: Any]
        let version = ((header["versions"] as! [String: Any])["unicodedata"] as! String).split(separator: ".")
        pythonUnicode = (Int(version[0])!, Int(version[1])!)
    }

    /// Whether Python's unicodedata (str.lower, isspace, NFC) and Swift both know `s`.
    func knownToBoth(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return (age.major, age.minor) <= pythonUnicode
    }

    static let allScalars: [Unicode.Scalar] = (0...0x10FFFF).compactMap { Unicode.Scalar(UInt32($0)) }

    @Test func splitClassesMatchTheRegexModule() {
        let runs = table["class_runs"] as! [[Any]]
        var python = [Character](repeating: "S", count: 0x110000)
        for (k, run) in runs.enumerated() {
            let end = k + 1 < runs.count ? runs[k + 1][0] as! Int : 0x110000
            for v in (run[0] as! Int)..<end { python[v] = Character(run[1] as! String) }
        }
        let names: [SplitClass: Character] = [.letter: "L", .number: "N", .other: "P", .skipped: "S"]
        var unknownToSwift = 0, differences: [String] = []
        for s in Self.allScalars where names[PythonUnicode.splitClass(s)] != python[Int(s.value)] {
            // The regex module ships a newer Unicode than Swift: its new letters are unassigned (other) here.
            if s.properties.age == nil { unknownToSwift += 1; continue }
            differences.append("U+\(String(s.value, radix: 16, uppercase: true))")
        }
        print("split classes: \(unknownToSwift) code points the regex module knows and Swift does not yet")
        #expect(differences.isEmpty, "split class differs at \(differences.prefix(40))")
    }

    @Test func lowercaseIsPythonsStrLower() {
        let lower = table["lower"] as! [String: [Int]]
        var newer = 0, differences: [String] = []
        for s in Self.allScalars {
            let python = lower[String(s.value, radix: 16)]?.map { Unicode.Scalar(UInt32($0))! } ?? [s]
            guard PythonUnicode.lowercased([s]) != python else { continue }
            if !knownToBoth(s) { newer += 1; continue }
            differences.append("U+\(String(s.value, radix: 16, uppercase: true))")
        }
        print("lowercase: \(newer) code points newer than Python's Unicode \(pythonUnicode) lowercase differently")
        #expect(differences.isEmpty, "lower() differs at \(differences.prefix(40))")
        // Final sigma depends on context, as in CPython.
        let cases: [(String, String)] = [("ΟΔΟΣ", "οδος"), ("Σ", "σ"), ("ΣΑ", "σα"), ("AΣ'", "aς'"),
                                         ("AΣ\u{301}", "aς\u{301}"), ("AΣ'B", "aσ'b"), ("A\u{AD}Σ", "a\u{AD}ς"),
                                         ("İ", "i\u{307}"), ("ΑΣ ΑΣ.", "ας ας.")]
        for (upper, expected) in cases {
            #expect(PythonUnicode.lowercased(Array(upper.unicodeScalars)) == Array(expected.unicodeScalars), "\(upper)")
        }
    }

    @Test func whitespaceIsPythonsIsSpace() {
        let python = Set((table["isspace"] as! [Int]).map(UInt32.init))
        let swift = Set(Self.allScalars.map(\.value).filter(PythonUnicode.isSpace))
        #expect(swift == python)
    }

    @Test func nfcIsPythonsUnicodedataNormalize() {
        let singles = table["nfc"] as! [String: [Int]]
        let composed = table["composed_from_nfd"] as! [String: [Int]]
        var newer = 0, differences: [String] = []
        for s in Self.allScalars {
            let python = singles[String(s.value, radix: 16)]?.map { Unicode.Scalar(UInt32($0))! } ?? [s]
            if TextCleaning.nfc([s]) != python {
                if knownToBoth(s) { differences.append("U+\(String(s.value, radix: 16))") } else { newer += 1 }
            }
        }
        for (hex, nfd) in composed {
            let s = Unicode.Scalar(UInt32(hex, radix: 16)!)!
            if TextCleaning.nfc(nfd.map { Unicode.Scalar(UInt32($0))! }) != [s] {
                if knownToBoth(s) { differences.append("NFD of U+\(hex)") } else { newer += 1 }
            }
        }
        print("NFC: \(newer) code points newer than Python's Unicode \(pythonUnicode) normalise differently")
        #expect(composed.count > 900)
        #expect(differences.isEmpty, "NFC differs at \(differences.prefix(40))")
    }

    @Test func ignoreCaseMatchingIsTheRegexModules() {
        let matches = table["ignorecase_matches"] as! [String: [Int]]
        for (character, python) in matches {
            let c = character.unicodeScalars.first!
            let swift = Self.allScalars.filter { WordSplitter.fold($0) == WordSplitter.fold(c) }.map { Int($0.value) }
            #expect(swift == python, "IGNORECASE matches of \(character)")
        }
    }
}
