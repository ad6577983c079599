// A read-only private mapping of a whole file, and the small POSIX helpers around it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped `PROT_READ`, `MAP_PRIVATE`; unmapped when the last reference goes.
///
/// Only bytes below `size` may be read: the tail of the last page past end-of-file is zero, but
/// touching a page wholly past end-of-file raises SIGBUS, so every offset is checked against
/// `size` (the `fstat` size at open time) before use.
public final class MappedRegion: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let size: Int

    /// Maps `size` bytes of the open file `fd`; `size` must be positive.
    public init(fd: Int32, size: Int, path: String) throws {
        precondition(size > 0, "cannot map an empty file")
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError.ioFailed(path: path, operation: "mmap", errno: errno)
        }
        base = UnsafeRawPointer(p)
        self.size = size
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }
}

/// The message of a POSIX error number.
func errnoDescription(_ code: Int32) -> String {
    guard let message = strerror(code) else { return "errno \(code)" }
    return String(cString: message) + " (errno \(code))"
}

/// A byte string inside the mapping, used as a dictionary key without making a Swift `String`.
///
/// Equality is byte-wise (ggml compares names with strcmp; no Unicode normalisation).
struct ByteKey: Hashable {
    let start: UnsafeRawPointer
    let count: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have a nil base; any valid address stands in for it.
        start = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        count = bytes.count
    }

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }
    var string: String { String(decoding: buffer, as: UTF8.self) }

    static func == (a: ByteKey, b: ByteKey) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.start, b.start, a.count) == 0)
    }

    func hash(into hasher: inout Hasher) { hasher.combine(bytes: buffer) }

    /// Runs `body` with a key over the UTF-8 of `string` (valid only inside `body`).
    static func with<R>(_ string: String, _ body: (ByteKey) throws -> R) rethrows -> R {
        var string = string
        return try string.withUTF8 { try body(ByteKey(UnsafeRawBufferPointer($0))) }
    }
}

/// Whether `bytes` is well-formed UTF-8 (no overlong forms, surrogates or values above U+10FFFF).
func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let p = bytes.baseAddress else { return true }
    let n = bytes.count
    var i = 0
    while i < n {
        // ASCII fast path, eight bytes at a time.
        while i + 8 <= n, p.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            i += 8
        }
        guard i < n else { break }
        let b0 = p.load(fromByteOffset: i, as: UInt8.self)
        if b0 < 0x80 { i += 1; continue }
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return false
        }
        guard n - i >= length else { return false }
        let b1 = p.load(fromByteOffset: i + 1, as: UInt8.self)
        guard b1 >= low && b1 <= high else { return false }
        for k in 2..<length where p.load(fromByteOffset: i + k, as: UInt8.self) & 0xC0 != 0x80 {
            return false
        }
        i += length
    }
    return true
}
