// What the host CPU is: core counts for the pool's default size, and a one-line description for benchmarks.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Facts about the host processor read from Linux's /proc and /sys.
public enum CPUInfo {
    /// Logical CPUs of the machine that are online.
    public static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The logical CPU ids this process may run on: its affinity mask, from `Cpus_allowed_list` in
    /// /proc/self/status ("0-3,8"); all online CPUs if that cannot be read.
    public static var allowedCPUs: [Int] {
        let all = Array(0..<onlineCPUs)
        guard let status = readSmallFile("/proc/self/status", limit: 1 << 16),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return all }
        var cpus: [Int] = []
        for range in line.dropFirst("Cpus_allowed_list:".count).trimmingSpaces().split(separator: ",") {
            let ends = range.split(separator: "-").compactMap { Int($0) }
            guard let first = ends.first, let last = ends.last, first <= last, ends.count <= 2 else { return all }
            cpus += Array(first...last)
        }
        return cpus.isEmpty ? all : cpus
    }

    /// Whole CPUs of run time the process's cgroup (v2 `cpu.max`) allows, or nil when unlimited or unknown.
    public static var cgroupCPULimit: Int? {
        guard let text = readSmallFile("/sys/fs/cgroup/cpu.max") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count == 2, let quota = Int(fields[0]), let period = Int(fields[1]), quota > 0, period > 0
        else { return nil }
        return max(1, (quota + period - 1) / period)
    }

    /// Physical cores this process may use: distinct package/core ids among its allowed CPUs, capped by the
    /// cgroup CPU quota. SMT siblings share vector units, so the kernels gain little from them; a container
    /// limited to 2 CPUs on a large host gets 2, not the host's core count (spinning workers on preempted
    /// cores would collapse throughput).
    public static var physicalCores: Int {
        let allowed = allowedCPUs
        var cores = Set<String>()
        for cpu in allowed {
            let base = "/sys/devices/system/cpu/cpu\(cpu)/topology/"
            guard let core = readSmallFile(base + "core_id"), let package = readSmallFile(base + "physical_package_id")
            else { continue }
            cores.insert(package + ":" + core)
        }
        let count = cores.isEmpty ? max(1, allowed.count) : cores.count
        return min(count, cgroupCPULimit ?? count)
    }

    /// The processor's marketing name ("model name" or, on ARM, the implementer/part), or "unknown CPU".
    public static var modelName: String {
        guard let text = readSmallFile("/proc/cpuinfo", limit: 1 << 20) else { return "unknown CPU" }
        var implementer = "", part = ""
        for line in text.split(separator: "\n") {
            let pieces = line.split(separator: ":", maxSplits: 1).map { $0.trimmingSpaces() }
            guard pieces.count == 2 else { continue }
            switch pieces[0] {
            case "model name", "Model": return pieces[1]
            case "CPU implementer": implementer = pieces[1]
            case "CPU part": part = pieces[1]
            default: continue
            }
        }
        return implementer.isEmpty ? "unknown CPU" : "ARM implementer \(implementer) part \(part)"
    }

    /// The vector-relevant features the kernels can use, as the kernel sees them (e.g. "avx2 fma avx512f ...").
    public static var simdFeatures: [String] {
        let interesting: Set<String> = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                                        "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8",
                                        "asimd", "asimddp", "i8mm", "sve", "sve2", "fphp", "asimdhp", "bf16"]
        guard let text = readSmallFile("/proc/cpuinfo", limit: 1 << 20) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return line[line.index(after: colon)...].split(separator: " ").map(String.init).filter(interesting.contains)
        }
        return []
    }

    /// Whether this binary was compiled for the host's vector units (the root package's default) or portably.
    public static var buildFlavour: String {
        #if CLIPGEN_FMA
        return "host-tuned build"
        #else
        return "portable build"
        #endif
    }

    /// "CPU model, N physical cores / M logical, features: ..., build flavour": the machine line of every benchmark.
    public static var machineLine: String {
        "\(modelName), \(physicalCores) usable physical cores / \(onlineCPUs) logical, SIMD: "
            + "\(simdFeatures.joined(separator: " ")), \(buildFlavour)"
    }
}

/// Reads a small text file (a /proc or /sys entry) whole; nil when it cannot be opened.
func readSmallFile(_ path: String, limit: Int = 4096) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self).trimmingSpaces()
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }
}
