// Resident memory of this process from /proc/self/status, split the way that matters for a
// memory-mapped model: anonymous (heap, stacks), file-backed (mapped weights, code) and shared.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A snapshot of the process's resident memory, in bytes.
public struct MemoryReport: Sendable, Equatable, CustomStringConvertible {
    /// Resident anonymous memory (heap, stacks, private copies): `RssAnon`.
    public var anonymous: Int
    /// Resident file-backed memory (mapped model weights, code): `RssFile`.
    public var file: Int
    /// Resident shared memory: `RssShmem`.
    public var shared: Int
    /// Peak resident set size since the process started: `VmHWM`.
    public var peak: Int

    /// Current resident set size (`VmRSS` = anonymous + file + shared).
    public var resident: Int { anonymous + file + shared }

    public init(anonymous: Int, file: Int, shared: Int, peak: Int) {
        self.anonymous = anonymous
        self.file = file
        self.shared = shared
        self.peak = peak
    }

    /// The current process's figures, or nil where /proc/self/status is unavailable (not Linux).
    public static func current() -> MemoryReport? {
        let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // The file is ~1.5 KB; read until EOF into a fixed buffer (no partial-line concerns).
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var used = 0
        while used < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            used += n
        }
        return parse(status: String(decoding: buffer[..<used], as: UTF8.self))
    }

    /// Parses the text of /proc/<pid>/status; nil when a needed field is missing.
    public static func parse(status: String) -> MemoryReport? {
        var fields: [Substring: Int] = [:]
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon]
            guard name == "RssAnon" || name == "RssFile" || name == "RssShmem" || name == "VmHWM" else { continue }
            let parts = line[line.index(after: colon)...].split(separator: " ", omittingEmptySubsequences: true)
                .flatMap { $0.split(separator: "\t") }
            guard let number = parts.first.flatMap({ Int($0) }) else { continue }
            let unit = parts.count > 1 ? parts[1].lowercased() : "b"
            let scale = unit == "kb" ? 1024 : unit == "mb" ? 1 << 20 : unit == "gb" ? 1 << 30 : 1
            fields[name] = number * scale
        }
        guard let anon = fields["RssAnon"], let file = fields["RssFile"], let peak = fields["VmHWM"] else {
            return nil
        }
        return MemoryReport(anonymous: anon, file: file, shared: fields["RssShmem"] ?? 0, peak: peak)
    }

    /// `bytes` in MiB with one decimal, e.g. "412.3 MiB".
    public static func mebibytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }

    public var description: String {
        let m = MemoryReport.mebibytes
        return "RSS \(m(resident)) (anon \(m(anonymous)), file \(m(file)), shmem \(m(shared))), peak \(m(peak))"
    }
}
