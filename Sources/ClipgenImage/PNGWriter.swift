// PNG output through libpng, with text entries (prompt, seed, sampler settings, ...) and atomic writes.
//
// libpng's classic API reports errors with setjmp/longjmp, which Swift cannot use safely, so the
// image is encoded with the simplified API (`png_image_write_to_memory`, libpng >= 1.6.29) and the
// text chunks are then spliced in after IHDR by hand: a PNG chunk is just length, type, data, CRC-32.
// ASCII/Latin-1 values go in tEXt, anything else in iTXt (UTF-8), which every PNG reader shows the same way
// (Python's PIL puts both in `Image.text`).

import CLibPNG
import Foundation

/// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// `height * width * 3` bytes.
    public var pixels: [UInt8]

    /// - Precondition: `pixels.count == width * height * 3`, both sides positive.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height) RGB")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Why a PNG could not be encoded, decoded or written.
public enum PNGError: Error, CustomStringConvertible, Equatable {
    /// libpng refused the image; its message.
    case encoder(String)
    /// The bytes are not a PNG libpng can read; its message.
    case decoder(String)
    /// A text entry's keyword is not 1-79 Latin-1 printable characters (PNG spec 11.3.4).
    case invalidKeyword(String)
    /// The output file could not be written (path, reason). Nothing was left at the path.
    case write(path: String, reason: String)

    public var description: String {
        switch self {
        case .encoder(let m): return "PNG encoder failed: \(m)"
        case .decoder(let m): return "not a readable PNG: \(m)"
        case .invalidKeyword(let k): return "PNG text keyword \"\(k)\" must be 1-79 printable Latin-1 characters"
        case .write(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}

public enum PNG {
    /// Encodes `image` as an 8-bit RGB PNG with the text entries, in order.
    ///
    /// - Parameter text: (keyword, value) pairs; keywords 1-79 printable Latin-1 characters, values any UTF-8.
    public static func encode(_ image: RGBImage, text: [(keyword: String, value: String)] = []) throws -> [UInt8] {
        let chunks = try text.map { try textChunk(keyword: $0.keyword, value: $0.value) }
        var png = try encodeImage(image)
        // The signature (8 bytes) and IHDR (4 + 4 + 13 + 4) always come first; text may follow IHDR directly.
        let afterHeader = 8 + 25
        png.insert(contentsOf: chunks.joined(), at: afterHeader)
        return png
    }

    /// Encodes and writes atomically: a temporary file in the same directory, renamed over `path` only
    /// once complete, so a reader never sees a partial PNG and a failure leaves no file behind.
    public static func write(_ image: RGBImage, to path: String, text: [(keyword: String, value: String)] = []) throws {
        let bytes = try encode(image, text: text)
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PNGError.write(path: path, reason: "directory \(directory) does not exist")
        }
        let temporary = directory + "/.\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw PNGError.write(path: path, reason: "directory \(directory) is not writable")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PNGError.write(path: path, reason: reason)
        }
    }

    /// Decodes a PNG to 8-bit RGB (any colour type is converted by libpng).
    public static func decode(_ bytes: [UInt8]) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError.decoder(message(of: &image)) }
        image.format = png_uint_32(PNG_FORMAT_RGB)
        let width = Int(image.width), height = Int(image.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let finished = bytes.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        guard finished != 0 else { throw PNGError.decoder(message(of: &image)) }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The text entries of a PNG (tEXt and uncompressed iTXt), in file order.
    public static func textEntries(_ bytes: [UInt8]) -> [(keyword: String, value: String)] {
        var entries: [(keyword: String, value: String)] = []
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = Int(bigEndian32(bytes, offset))
            guard offset + 12 + length <= bytes.count else { break }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            if type == "tEXt", let zero = data.firstIndex(of: 0) {
                entries.append((latin1(data[..<zero]), latin1(data[(zero + 1)...])))
            } else if type == "iTXt", let zero = data.firstIndex(of: 0), zero + 2 < data.count, data[zero + 1] == 0 {
                // keyword \0 compression-flag method language \0 translated-keyword \0 text
                let rest = data[(zero + 3)...]
                if let languageEnd = rest.firstIndex(of: 0),
                   let translatedEnd = rest[(languageEnd + 1)...].firstIndex(of: 0) {
                    entries.append((latin1(data[..<zero]), String(decoding: rest[(translatedEnd + 1)...], as: UTF8.self)))
                }
            }
            offset += 12 + length
        }
        return entries
    }

    // MARK: - Internals

    private static func encodeImage(_ rgb: RGBImage) throws -> [UInt8] {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(rgb.width)
        image.height = png_uint_32(rgb.height)
        image.format = png_uint_32(PNG_FORMAT_RGB)
        var size = 0
        // First call measures, second writes.
        let measured = rgb.pixels.withUnsafeBytes {
            png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil)
        }
        guard measured != 0, size > 0 else { throw PNGError.encoder(message(of: &image)) }
        var out = [UInt8](repeating: 0, count: size)
        let written = rgb.pixels.withUnsafeBytes { source in
            out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, source.baseAddress, 0, nil) }
        }
        guard written != 0 else { throw PNGError.encoder(message(of: &image)) }
        return Array(out[..<size])
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// A tEXt chunk when the value is Latin-1, else an uncompressed iTXt chunk.
    private static func textChunk(keyword: String, value: String) throws -> [UInt8] {
        let scalars = Array(keyword.unicodeScalars)
        guard (1...79).contains(scalars.count), scalars.allSatisfy({ (0x20...0x7E).contains($0.value) || (0xA1...0xFF).contains($0.value) }),
              scalars.first != " ", scalars.last != " " else {
            throw PNGError.invalidKeyword(keyword)
        }
        let key = scalars.map { UInt8($0.value) }
        if value.unicodeScalars.allSatisfy({ $0.value <= 0xFF && $0.value != 0 }) {
            return chunk("tEXt", key + [0] + value.unicodeScalars.map { UInt8($0.value) })
        }
        // compression flag 0, method 0, empty language tag, empty translated keyword.
        return chunk("iTXt", key + [0, 0, 0, 0, 0] + Array(value.utf8))
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeBytes = Array(type.utf8)
        var out = withUnsafeBytes(of: UInt32(data.count).bigEndian, Array.init)
        out += typeBytes + data
        out += withUnsafeBytes(of: crc32(typeBytes + data).bigEndian, Array.init)
        return out
    }

    private static func bigEndian32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static func latin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

/// CRC-32 (ISO 3309, the PNG chunk checksum), table-driven.
func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
}

private let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}
