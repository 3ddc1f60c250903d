// PNG decoding and encoding through libpng's simplified API, which reports errors in a message
// (the classic API's setjmp/longjmp cannot be used from Swift).
internal import CPNG
import Foundation

/// A PNG that could not be read or written: which file and what libpng said.
public struct PNGError: Error, CustomStringConvertible, Sendable {
    /// The PNG's path.
    public let file: String
    /// What libpng said, or what failed when it said nothing.
    public let message: String
    public var description: String { "\(file): \(message)" }
}

/// The size and colour of a PNG, read from its header alone.
public struct PNGHeader: Equatable, Sendable {
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int
    /// 3 when the file has colour (RGB, RGBA or a colour palette), 1 when it is grey.
    public var channels: Int

    /// A header of the given size and channel count.
    public init(width: Int, height: Int, channels: Int) {
        self.width = width
        self.height = height
        self.channels = channels
    }
}

/// Reading and writing PNG files as 8-bit grey or RGB images.
public enum PNG {
    /// The channels to decode into.
    public enum Channels: Sendable {
        /// 1 for grey files, 3 for colour files.
        case native
        /// Always 1: colour is converted to grey.
        case grey
        /// Always 3: grey is replicated.
        case rgb
    }

    /// Reads the header of `path` (size and colour) without decoding pixels.
    public static func header(file path: String) throws -> PNGHeader {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw PNGError(file: path, message: message(of: &image, fallback: "cannot read the PNG header"))
        }
        return PNGHeader(width: Int(image.width), height: Int(image.height),
                         channels: image.format & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0 ? 3 : 1)
    }

    /// Decodes the PNG file at `path`. 16-bit samples are scaled to 8 bits (`v * 255 / 65535`,
    /// rounded), palettes expanded, and alpha composited onto black. A truncated or corrupt file is an error naming it.
    public static func read(file path: String, channels: Channels = .native) throws -> Image {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PNGError(file: path, message: "cannot read the file")
        }
        return try decode([UInt8](data), name: path, channels: channels)
    }

    /// Decodes PNG bytes; `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String, channels: Channels = .native) throws -> Image {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else {
            throw PNGError(file: name, message: message(of: &image, fallback: "not a PNG file"))
        }
        let colour = image.format & png_uint_32(PNG_FORMAT_FLAG_COLOR) != 0
        let outChannels: Int
        switch channels {
        case .native: outChannels = colour ? 3 : 1
        case .grey: outChannels = 1
        case .rgb: outChannels = 3
        }
        // libpng's simplified API treats 16-bit files as linear light and would gamma-encode them
        // when asked for 8 bits; ML tools read 16-bit samples as the same scale as 8-bit ones.
        // So read 16-bit files as 16-bit (no conversion) and scale them to 8 bits here.
        let sixteenBit = image.format & png_uint_32(PNG_FORMAT_FLAG_LINEAR) != 0
        image.format = png_uint_32(outChannels == 3 ? PNG_FORMAT_FLAG_COLOR : 0)
            | (sixteenBit ? png_uint_32(PNG_FORMAT_FLAG_LINEAR) : 0)
        let width = Int(image.width), height = Int(image.height)
        let sampleCount = width * height * outChannels
        var pixels = [UInt8](repeating: 0, count: sampleCount)
        var black = png_color(red: 0, green: 0, blue: 0)
        let finished: Int32
        if sixteenBit {
            var wide = [UInt16](repeating: 0, count: sampleCount)
            finished = wide.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, &black, buffer.baseAddress, png_int_32(width * outChannels), nil)
            }
            for index in 0..<sampleCount { pixels[index] = UInt8((UInt32(wide[index]) * 255 + 32_767) / 65_535) }
        } else {
            finished = pixels.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, &black, buffer.baseAddress, png_int_32(width * outChannels), nil)
            }
        }
        guard finished != 0 else {
            throw PNGError(file: name, message: message(of: &image, fallback: "corrupt or truncated PNG data"))
        }
        return Image(width: width, height: height, channels: outChannels, pixels: pixels)
    }

    /// Encodes an 8-bit grey or RGB image as PNG bytes.
    public static func encode(_ picture: Image, name: String = "<memory>") throws -> [UInt8] {
        var image = pngImage(for: picture)
        defer { png_image_free(&image) }
        var size = 0
        // First call sizes the output, the second writes it.
        let sized = picture.pixels.withUnsafeBytes {
            png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, png_int_32(picture.width * picture.channels), nil)
        }
        guard sized != 0 else { throw PNGError(file: name, message: message(of: &image, fallback: "cannot encode")) }
        var output = [UInt8](repeating: 0, count: size)
        let written = output.withUnsafeMutableBytes { out in
            picture.pixels.withUnsafeBytes {
                png_image_write_to_memory(&image, out.baseAddress, &size, 0, $0.baseAddress,
                                          png_int_32(picture.width * picture.channels), nil)
            }
        }
        guard written != 0 else { throw PNGError(file: name, message: message(of: &image, fallback: "cannot encode")) }
        return Array(output.prefix(size))
    }

    /// Writes an image to `path` through a temporary file renamed into place.
    public static func write(_ picture: Image, to path: String) throws {
        let bytes = try encode(picture, name: path)
        let temporary = "\(path).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw PNGError(file: path, message: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw PNGError(file: path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
    }

    private static func pngImage(for picture: Image) -> png_image {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(picture.width)
        image.height = png_uint_32(picture.height)
        image.format = png_uint_32(picture.channels == 3 ? PNG_FORMAT_FLAG_COLOR : 0)
        return image
    }

    /// libpng's message, which arrives as a fixed C array inside the struct.
    private static func message(of image: inout png_image, fallback: String) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? fallback : text
    }
}
