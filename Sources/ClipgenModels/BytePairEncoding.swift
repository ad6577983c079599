// Byte-level BPE as open_clip's SimpleTokenizer.bpe does it, on token ids instead of strings: a word's UTF-8
// bytes become byte tokens (the last one with "</w>"), then the adjacent pair of lowest merge rank is merged
// everywhere, left to right, until no pair has a rank. Because every symbol string maps to one id and every
// merge's result is itself a token, merging ids is the same computation as open_clip's merging of strings.

import Foundation

/// GPT-2's byte -> character table: printable Latin-1 bytes stand for themselves, the other 68 bytes (controls,
/// space, 0x7F...0xA0, 0xAD) for U+0100 onwards in byte order, so no token holds whitespace or a control.
enum ByteLevel {
    /// Whether byte `b` is one of the 188 printable Latin-1 bytes that stand for themselves.
    static func isPrintable(_ b: Int) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The bytes in vocabulary order: token k (and k + 256 with "</w>") is the character of byte `order[k]`.
    /// open_clip lists the printable bytes first (its dict's insertion order), then the others.
    static let order: [Int] = (0..<256).filter(isPrintable) + (0..<256).filter { !isPrintable($0) }

    /// The character of each byte; the n-th non-printable byte becomes U+0100 + n.
    static let characters: [Unicode.Scalar] = (0..<256).map { b in
        isPrintable(b) ? Unicode.Scalar(UInt8(b)) : Unicode.Scalar(0x100 + UInt32((0..<b).filter { !isPrintable($0) }.count))!
    }
}

/// Many short byte strings in one buffer (token texts, merge rules), with an optional hash index from bytes
/// to position. Duplicates resolve to the last one, as Python's `dict(zip(vocab, range(...)))` does. Lookups work
/// on buffer views, so loading 49k tokens and 49k merges allocates nothing per string.
struct ByteStrings {
    private(set) var bytes: [UInt8] = []
    /// Offset where string i starts; string i ends where i + 1 starts.
    private var starts: [Int] = [0]
    /// Open-addressing hash index (position + 1; 0 = empty), built by `buildIndex`.
    private var slots: [Int32] = []
    /// Whether two strings are equal (found by `buildIndex`).
    private(set) var hasDuplicates = false

    var count: Int { starts.count - 1 }

    /// Room for `count` strings of about 8 bytes.
    init(capacity count: Int) {
        bytes.reserveCapacity(8 * count)
        starts.reserveCapacity(count + 1)
    }

    mutating func append(_ utf8: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: utf8.bindMemory(to: UInt8.self))
        starts.append(bytes.count)
    }

    mutating func append(_ string: String) {
        bytes.append(contentsOf: string.utf8)
        starts.append(bytes.count)
    }

    /// The bytes of string `i` (a copy-free slice; for messages and lookups outside loops).
    subscript(i: Int) -> ArraySlice<UInt8> { bytes[starts[i]..<starts[i + 1]] }

    /// String i of the buffer, as pointers valid inside `withView`.
    struct View {
        let base: UnsafeBufferPointer<UInt8>
        let starts: UnsafeBufferPointer<Int>
        subscript(i: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: base[starts[i]..<starts[i + 1]]) }
    }

    func withView<R>(_ body: (View) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { b in try starts.withUnsafeBufferPointer { s in try body(View(base: b, starts: s)) } }
    }

    mutating func buildIndex() {
        var capacity = 1
        while capacity < 2 * count { capacity <<= 1 }
        var slots = [Int32](repeating: 0, count: capacity), hasDuplicates = false
        withView { view in
            for i in 0..<count {
                var slot = Self.hash(view[i], .init(start: nil, count: 0)) & (capacity - 1)
                while slots[slot] != 0 {
                    if Self.equal(view[Int(slots[slot]) - 1], view[i], .init(start: nil, count: 0)) {
                        hasDuplicates = true
                        break
                    }
                    slot = (slot + 1) & (capacity - 1)
                }
                slots[slot] = Int32(i + 1)
            }
        }
        self.slots = slots
        self.hasDuplicates = hasDuplicates
    }

    /// The position of the string equal to `a` followed by `b`, looked up without building the concatenation.
    /// `view` is this buffer's view.
    func index(of a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8> = .init(start: nil, count: 0),
               in view: View) -> Int? {
        var slot = Self.hash(a, b) & (slots.count - 1)
        while slots[slot] != 0 {
            if Self.equal(view[Int(slots[slot]) - 1], a, b) { return Int(slots[slot]) - 1 }
            slot = (slot + 1) & (slots.count - 1)
        }
        return nil
    }

    /// Whether `x` is `a` followed by `b`.
    static func equal(_ x: UnsafeBufferPointer<UInt8>, _ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>)
        -> Bool {
        guard x.count == a.count + b.count else { return false }
        return (a.isEmpty || memcmp(x.baseAddress!, a.baseAddress!, a.count) == 0)
            && (b.isEmpty || memcmp(x.baseAddress! + a.count, b.baseAddress!, b.count) == 0)
    }

    /// FNV-1a over the bytes of `a` then `b`.
    private static func hash(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in a { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        for byte in b { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}

/// The merge rules as a pair table, and the merge loop.
struct BytePairMerger {
    /// Token id of each byte's character, and of the character with the end-of-word suffix.
    let byteTokens: [Int32]
    let byteEndTokens: [Int32]
    /// Open-addressing table, key and value side by side (one cache line per probe): key (first id << 32 |
    /// second id) at 2 * slot, value (rank << 32 | merged id) at 2 * slot + 1.
    private var table: [UInt64]
    private let mask: Int
    /// 64 - log2(slots): Fibonacci hashing keeps the product's top bits, which mix both ids.
    private let shift: UInt64
    private static let empty = UInt64.max

    init(byteTokens: [Int32], byteEndTokens: [Int32], mergeCount: Int) {
        self.byteTokens = byteTokens
        self.byteEndTokens = byteEndTokens
        var slots = 2, bits: UInt64 = 1
        while slots < 2 * mergeCount { slots <<= 1; bits += 1 }
        shift = 64 - bits
        mask = slots - 1
        table = [UInt64](repeating: Self.empty, count: 2 * slots)
    }

    /// Adds the rule merging `first`, `second` into `merged`; a repeated pair takes the later rank, as
    /// Python's `dict(zip(merges, range(...)))` does.
    mutating func add(first: Int32, second: Int32, merged: Int32, rank: Int) {
        let key = UInt64(UInt32(first)) << 32 | UInt64(UInt32(second))
        var slot = slotIndex(key)
        while table[2 * slot] != Self.empty && table[2 * slot] != key { slot = (slot + 1) & mask }
        table[2 * slot] = key
        table[2 * slot + 1] = UInt64(rank) << 32 | UInt64(UInt32(merged))
    }

    /// (rank, merged id) of the pair, or nil when no rule merges it.
    @inline(__always)
    private func rule(_ first: Int32, _ second: Int32) -> (rank: Int, merged: Int32)? {
        let key = UInt64(UInt32(first)) << 32 | UInt64(UInt32(second))
        var slot = slotIndex(key)
        while table[2 * slot] != Self.empty {
            if table[2 * slot] == key {
                let value = table[2 * slot + 1]
                return (Int(value >> 32), Int32(truncatingIfNeeded: value))
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    @inline(__always)
    private func slotIndex(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The token ids of one word given as UTF-8 bytes (not empty).
    func merge(_ utf8: [UInt8]) -> [Int32] {
        var word = utf8.dropLast().map { byteTokens[Int($0)] } + [byteEndTokens[Int(utf8.last!)]]
        while word.count > 1 {
            // The adjacent pair of lowest rank (ranks are unique per pair, so there are no ties).
            var best: (rank: Int, merged: Int32, first: Int32, second: Int32)?
            for k in 0..<(word.count - 1) {
                if let r = rule(word[k], word[k + 1]), r.rank < best?.rank ?? Int.max {
                    best = (r.rank, r.merged, word[k], word[k + 1])
                }
            }
            guard let best else { break }
            // Merge every occurrence, left to right, without overlap.
            var merged: [Int32] = []
            merged.reserveCapacity(word.count - 1)
            var k = 0
            while k < word.count {
                if k + 1 < word.count && word[k] == best.first && word[k + 1] == best.second {
                    merged.append(best.merged)
                    k += 2
                } else {
                    merged.append(word[k])
                    k += 1
                }
            }
            word = merged
        }
        return word
    }
}
