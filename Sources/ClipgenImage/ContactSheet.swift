// A contact sheet: several same-sized images in a grid on a white background, for looking at all candidates at once.

extension RGBImage {
    /// `images` (all the same size) in rows of `columns`, `gap` white pixels between and around them.
    public static func contactSheet(_ images: [RGBImage], columns: Int? = nil, gap: Int = 4) -> RGBImage {
        precondition(!images.isEmpty, "a contact sheet needs at least one image")
        let w = images[0].width, h = images[0].height
        precondition(images.allSatisfy { $0.width == w && $0.height == h }, "contact sheet images must share a size")
        var c = columns ?? 1
        if columns == nil { while c * c < images.count { c += 1 } }
        let rows = (images.count + c - 1) / c
        let sheetWidth = c * w + (c + 1) * gap, sheetHeight = rows * h + (rows + 1) * gap
        var pixels = [UInt8](repeating: 255, count: sheetWidth * sheetHeight * 3)
        for (i, image) in images.enumerated() {
            let x0 = gap + (i % c) * (w + gap), y0 = gap + (i / c) * (h + gap)
            for y in 0..<h {
                let source = y * w * 3, target = ((y0 + y) * sheetWidth + x0) * 3
                pixels.replaceSubrange(target..<(target + w * 3), with: image.pixels[source..<(source + w * 3)])
            }
        }
        return RGBImage(width: sheetWidth, height: sheetHeight, pixels: pixels)
    }
}
