// PNG output: pixels survive a libpng round trip, text entries (tEXt and UTF-8 iTXt) are read back by our
// reader and by Python's PIL, bad keywords and unwritable paths fail cleanly and leave no file.
import ClipgenImage
import Foundation
import Testing

/// A deterministic test picture: a gradient with a few exact corner values.
private func testImage(width: Int = 37, height: Int = 19) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8((x * 255) / (width - 1))
            pixels[i + 1] = UInt8((y * 255) / (height - 1))
            pixels[i + 2] = UInt8((x * 7 + y * 13) & 0xFF)
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

private func scratchDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "clipgen-png-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let sampleText: [(keyword: String, value: String)] = [
    ("prompt", "a red circle on the left"),
    ("seed", "42"),
    ("clipgen:prompt-utf8", "ein grüner Kreis 🟢, 三角形 “quoted”"),
]

@Test func pixelsSurviveRoundTrip() throws {
    let image = testImage()
    let bytes = try PNG.encode(image, text: sampleText)
    #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    #expect(try PNG.decode(bytes) == image)
}

@Test func textEntriesReadBackInOrder() throws {
    let bytes = try PNG.encode(testImage(), text: sampleText)
    let entries = PNG.textEntries(bytes)
    #expect(entries.map(\.keyword) == sampleText.map(\.keyword))
    #expect(entries.map(\.value) == sampleText.map(\.value))
}

@Test func badKeywordIsRejected() throws {
    for keyword in ["", String(repeating: "k", count: 80), "tab\there", " leading", "emoji🟢"] {
        #expect(throws: PNGError.invalidKeyword(keyword)) { try PNG.encode(testImage(), text: [(keyword, "v")]) }
    }
}

@Test func writeIsAtomicAndCleansUp() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/out.png"
    try PNG.write(testImage(), to: path, text: sampleText)
    let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(try PNG.decode(written) == testImage())
    // A failure (here: a missing directory, then an existing directory as the target) leaves nothing behind.
    #expect(throws: PNGError.self) { try PNG.write(testImage(), to: dir + "/missing/out.png") }
    try FileManager.default.createDirectory(atPath: dir + "/taken.png", withIntermediateDirectories: false)
    #expect(throws: PNGError.self) { try PNG.write(testImage(), to: dir + "/taken.png") }
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    #expect(left == ["out.png", "taken.png"], "temporary files left: \(left)")
}

@Test func garbageIsNotDecoded() {
    #expect(throws: PNGError.self) { try PNG.decode([1, 2, 3, 4, 5, 6, 7, 8, 9]) }
}

/// Python's PIL (the "standard tool" users will read our metadata with) sees the same text entries, and zlib
/// agrees with every chunk's CRC-32.
@Test func pillowReadsTextEntries() throws {
    let environment = ProcessInfo.processInfo.environment
    guard let python = environment["CLIPGEN_PYTHON"], !python.isEmpty else {
        #expect(environment["CI"] == nil || environment["CI"] == "false",
                "CLIPGEN_PYTHON (a Python with Pillow) must be set under CI")
        return
    }
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/pil.png"
    try PNG.write(testImage(), to: path, text: sampleText)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", """
        import json, struct, sys, zlib
        from PIL import Image
        im = Image.open(sys.argv[1]); im.load()
        data = open(sys.argv[1], "rb").read()
        bad, at = [], 8
        while at < len(data):
            (n,) = struct.unpack(">I", data[at:at + 4]); kind = data[at + 4:at + 8]
            if struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0] != zlib.crc32(data[at + 4:at + 8 + n]):
                bad.append(kind.decode())
            at += 12 + n
        print(json.dumps({"size": im.size, "mode": im.mode, "text": dict(im.text), "bad_crc": bad}))
        """, path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "PIL could not read the PNG (is Pillow installed in CLIPGEN_PYTHON?)")
    let json = try JSONSerialization.jsonObject(with: output) as? [String: Any]
    #expect(json?["mode"] as? String == "RGB")
    #expect(json?["bad_crc"] as? [String] == [], "chunks whose CRC-32 zlib rejects")
    #expect(json?["size"] as? [Int] == [37, 19])
    let text = json?["text"] as? [String: String] ?? [:]
    for entry in sampleText { #expect(text[entry.keyword] == entry.value, "PIL text[\(entry.keyword)]") }
}

/// Bicubic resampling agrees with Pillow's Image.resize(BICUBIC) (which rounds to 8 bits after each pass).
@Test func bicubicResampleMatchesPillow() throws {
    let environment = ProcessInfo.processInfo.environment
    guard let python = environment["CLIPGEN_PYTHON"], !python.isEmpty else { return }
    let image = testImage(width: 64, height: 48)
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try PNG.write(image, to: dir + "/in.png")
    for (w, h) in [(32, 24), (17, 40), (100, 70)] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", """
            import sys
            from PIL import Image
            im = Image.open(sys.argv[1]).convert("RGB").resize((int(sys.argv[2]), int(sys.argv[3])), Image.BICUBIC)
            sys.stdout.write(",".join(str(v) for px in im.getdata() for v in px))
            """, dir + "/in.png", String(w), String(h)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let pillow = output.split(separator: ",").map { Float($0)! / 255 }
        let ours = image.resampledBicubic(width: w, height: h)
        #expect(pillow.count == ours.count)
        let worst = zip(pillow, ours).map { abs($0 - $1) }.max() ?? 1
        print("bicubic \(image.width)x\(image.height) -> \(w)x\(h): max difference from Pillow \(worst * 255) / 255")
        #expect(worst <= 2.0 / 255, "\(w)x\(h): \(worst * 255) levels")
    }
}
