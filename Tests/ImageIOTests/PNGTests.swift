// Decoding every PNG colour type against known pixels, encoding round trips, and bad files.
import Foundation
import ImageIO
import Testing
import TestSupport

@Suite struct PNGTests {
    let folder = TemporaryFolder()

    func decode(_ png: RawPNG, _ channels: PNG.Channels = .native) throws -> Image {
        try PNG.decode(png.bytes, name: "test.png", channels: channels)
    }

    @Test func grey8() throws {
        let png = RawPNG(width: 2, height: 2, bitDepth: 8, colourType: .grey, data: [0, 64, 128, 255])
        let image = try decode(png)
        #expect(image.channels == 1 && image.width == 2 && image.height == 2)
        #expect(image.pixels == [0, 64, 128, 255])
        #expect(try decode(png, .rgb).pixels == [0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255])
    }

    @Test func grey16IsReducedToEightBits() throws {
        let png = RawPNG(width: 3, height: 1, bitDepth: 16, colourType: .grey, data: [0x00, 0x00, 0xFF, 0xFF, 0x80, 0x80])
        #expect(try decode(png).pixels == [0, 255, 128])
    }

    @Test func greyAlphaIsCompositedOnBlack() throws {
        let png = RawPNG(width: 2, height: 1, bitDepth: 8, colourType: .greyAlpha, data: [200, 255, 200, 0])
        let image = try decode(png)
        #expect(image.channels == 1)
        #expect(image.pixels == [200, 0])
    }

    @Test func rgb8() throws {
        let png = RawPNG(width: 2, height: 1, bitDepth: 8, colourType: .rgb, data: [10, 20, 30, 40, 50, 60])
        let image = try decode(png)
        #expect(image.channels == 3 && image.pixels == [10, 20, 30, 40, 50, 60])
        let grey = RawPNG(width: 3, height: 1, bitDepth: 8, colourType: .rgb, data: [0, 0, 0, 255, 255, 255, 128, 128, 128])
        #expect(try decode(grey, .grey).pixels == [0, 255, 128])
    }

    @Test func rgb16() throws {
        let png = RawPNG(width: 1, height: 1, bitDepth: 16, colourType: .rgb, data: [0xFF, 0xFF, 0x00, 0x00, 0x80, 0x80])
        #expect(try decode(png).pixels == [255, 0, 128])
    }

    @Test func rgbaIsCompositedOnBlack() throws {
        let png = RawPNG(width: 2, height: 1, bitDepth: 8, colourType: .rgba, data: [10, 20, 30, 255, 90, 90, 90, 0])
        #expect(try decode(png).pixels == [10, 20, 30, 0, 0, 0])
    }

    @Test func paletteWithTransparency() throws {
        var png = RawPNG(width: 4, height: 1, bitDepth: 8, colourType: .palette, data: [0, 1, 2, 1])
        png.palette = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let image = try decode(png)
        #expect(image.channels == 3)
        #expect(image.pixels == [255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0])
        png.paletteAlpha = [255, 0]
        #expect(try decode(png).pixels == [255, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0])
    }

    @Test func headerWithoutDecoding() throws {
        let path = folder.file("header.png")
        try Data(RawPNG(width: 5, height: 3, bitDepth: 8, colourType: .rgb, data: [UInt8](repeating: 7, count: 45)).bytes).write(to: URL(fileURLWithPath: path))
        #expect(try PNG.header(file: path) == PNGHeader(width: 5, height: 3, channels: 3))
    }

    @Test(arguments: [1, 3])
    func encodeDecodeRoundTrip(channels: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let pixels = (0..<(13 * 7 * channels)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = Image(width: 13, height: 7, channels: channels, pixels: pixels)
        let path = folder.file("roundtrip\(channels).png")
        try PNG.write(image, to: path)
        #expect(try PNG.read(file: path) == image)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test func truncatedFileIsAnErrorNamingIt() throws {
        let image = Image(width: 64, height: 64, channels: 3, pixels: (0..<(64 * 64 * 3)).map { UInt8(truncatingIfNeeded: $0 * 7919 >> 3) })
        let bytes = try PNG.encode(image)
        let path = folder.file("truncated.png")
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: path))
        let text = message { _ = try PNG.read(file: path) }
        #expect(text.contains("truncated.png"), "\(text)")
        #expect(text != "no error")
    }

    @Test func corruptDataIsAnError() throws {
        var bytes = RawPNG(width: 8, height: 8, bitDepth: 8, colourType: .grey, data: [UInt8](repeating: 9, count: 64)).bytes
        for index in 45..<(bytes.count - 12) { bytes[index] ^= 0x5A }
        let text = message { _ = try PNG.decode(bytes, name: "corrupt.png") }
        #expect(text.hasPrefix("corrupt.png: "), "\(text)")
    }

    @Test func notAPNGIsAnErrorNamingIt() throws {
        let path = folder.file("notes.png")
        try "not a picture".write(toFile: path, atomically: true, encoding: .utf8)
        let text = message { _ = try PNG.read(file: path) }
        #expect(text.contains("notes.png") && text != "no error", "\(text)")
        #expect(message { _ = try PNG.header(file: path) }.contains("notes.png"))
        #expect(message { _ = try PNG.read(file: folder.file("missing.png")) }.contains("missing.png"))
    }
}
