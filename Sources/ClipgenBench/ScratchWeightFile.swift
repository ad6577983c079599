// A large temporary file of Q8_0 blocks, memory-mapped the way model weights are, for bandwidth benchmarks.

import ClipgenThreads
import ClipgenFile
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Errors of the benchmark's scratch file, naming the path and the failed call.
public struct ScratchFileError: Error, CustomStringConvertible {
    public let description: String
}

/// A read-only private mapping of a freshly written file of valid Q8_0 blocks.
///
/// The file is unlinked as soon as it is mapped, so it disappears even if the benchmark is killed; its pages
/// stay in the page cache while mapped, exactly like a model file that has been read before.
public final class ScratchWeightFile {
    /// The mapping, made exactly as the model loader maps a model file.
    private let region: MappedRegion
    /// Start of the mapping.
    public var base: UnsafeRawPointer { region.base }
    /// Bytes mapped (the file size).
    public var byteCount: Int { region.size }

    /// Writes at least `byteCount` bytes (rounded up to whole 34-byte Q8_0 blocks) into a new file in `directory`.
    public init(directory: String, byteCount requested: Int, seed: UInt64 = 0x5EED) throws {
        let blockBytes = 34
        let size = (requested + blockBytes - 1) / blockBytes * blockBytes
        var template = Array("\(directory)/clipgen-bench-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = String(cString: template)
        guard fd >= 0 else {
            throw ScratchFileError(description: "\(path): cannot create scratch file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        unlink(path)  // nothing is left behind, whatever happens next

        // A 1.1 MB pattern of valid blocks (small positive fp16 scales, int8 values in [-127, 127]), written
        // repeatedly: the content does not change the bandwidth, the number of distinct pages does.
        let patternBlocks = 32_768
        var pattern = [UInt8](repeating: 0, count: patternBlocks * blockBytes)
        var state = seed | 1
        for b in 0..<patternBlocks {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let scale = UInt16(0x2000 + (state & 0x3FF))  // fp16 in [2^-7, 2^-6)
            pattern[b * blockBytes] = UInt8(scale & 0xFF)
            pattern[b * blockBytes + 1] = UInt8(scale >> 8)
            for i in 0..<32 {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                pattern[b * blockBytes + 2 + i] = UInt8(bitPattern: Int8(Int(state % 255) - 127))
            }
        }
        var written = 0
        while written < size {
            let n = min(pattern.count, size - written)
            let rc = pattern.withUnsafeBytes { pwrite(fd, $0.baseAddress, n, off_t(written)) }
            guard rc == n else {
                throw ScratchFileError(description: "\(path): short write at \(written) of \(size) bytes "
                    + "(\(String(cString: strerror(errno)))); is there enough free disk space?")
            }
            written += n
        }
        region = try MappedRegion(fd: fd, size: size, path: path)
    }
}

/// Sums `byteCount` bytes at `base` (a multiple of 256) with the widest loads the target has; the fastest plain
/// read loop we could write, so that it is an honest ceiling for the kernels that read the same mapping.
@inline(never)
public func readChecksum(_ base: UnsafeRawPointer, byteCount: Int) -> UInt32 {
    var a = SIMD16<UInt32>(), b = SIMD16<UInt32>(), c = SIMD16<UInt32>(), d = SIMD16<UInt32>()
    var offset = 0
    while offset + 256 <= byteCount {
        a &+= base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt32>.self)
        b &+= base.loadUnaligned(fromByteOffset: offset + 64, as: SIMD16<UInt32>.self)
        c &+= base.loadUnaligned(fromByteOffset: offset + 128, as: SIMD16<UInt32>.self)
        d &+= base.loadUnaligned(fromByteOffset: offset + 192, as: SIMD16<UInt32>.self)
        offset += 256
    }
    return ((a &+ b) &+ (c &+ d)).wrappedSum()
}

/// Checksum of a mapped region read in fixed 8 MiB chunks handed out across the pool: each thread streams long
/// contiguous runs (the sequential-read figure of both benchmarks).
public func parallelRead(_ bytes: UnsafeRawBufferPointer, pool: ThreadPool) -> UInt32 {
    let chunk = 8 << 20
    let chunks = (bytes.count + chunk - 1) / chunk
    let sums = UnsafeMutablePointer<UInt32>.allocate(capacity: chunks)
    defer { sums.deallocate() }
    pool.parallelFor(chunks) { i in
        let start = i * chunk
        sums[i] = readChecksum(bytes.baseAddress! + start, byteCount: min(chunk, bytes.count - start) / 256 * 256)
    }
    return (0..<chunks).reduce(0) { $0 &+ sums[$1] }
}
