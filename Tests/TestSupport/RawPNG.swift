// Builds PNG files byte by byte, so decoder tests control the colour type, bit depth, palette
// and transparency exactly instead of trusting the encoder under test.
internal import CZlib
import Foundation

/// A PNG written chunk by chunk. Rows are given unfiltered; each gets filter byte 0.
public struct RawPNG {
    /// PNG colour types.
    public enum ColourType: UInt8 { case grey = 0, rgb = 2, palette = 3, greyAlpha = 4, rgba = 6 }

    public var width: Int
    public var height: Int
    public var bitDepth: UInt8
    public var colourType: ColourType
    /// Packed sample bytes, row by row, without filter bytes (16-bit samples big-endian).
    public var data: [UInt8]
    /// RGB triples for a palette image.
    public var palette: [UInt8] = []
    /// Alpha per palette entry (tRNS), if any.
    public var paletteAlpha: [UInt8] = []

    public init(width: Int, height: Int, bitDepth: UInt8, colourType: ColourType, data: [UInt8]) {
        self.width = width
        self.height = height
        self.bitDepth = bitDepth
        self.colourType = colourType
        self.data = data
    }

    /// The encoded file.
    public var bytes: [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [bitDepth, colourType.rawValue, 0, 0, 0]
        out += chunk("IHDR", header)
        if !palette.isEmpty { out += chunk("PLTE", palette) }
        if !paletteAlpha.isEmpty { out += chunk("tRNS", paletteAlpha) }
        let rowBytes = data.count / height
        var filtered: [UInt8] = []
        for row in 0..<height { filtered += [0] + data[(row * rowBytes)..<((row + 1) * rowBytes)] }
        out += chunk("IDAT", compress(filtered))
        out += chunk("IEND", [])
        return out
    }

    private func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return bigEndian(UInt32(body.count)) + typed + bigEndian(crc)
    }

    private func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}

/// zlib-compresses bytes (the PNG IDAT format).
public func compress(_ input: [UInt8]) -> [UInt8] {
    var size = compressBound(uLong(input.count))
    var output = [UInt8](repeating: 0, count: Int(size))
    let status = CZlib.compress(&output, &size, input, uLong(input.count))
    precondition(status == Z_OK, "zlib compress failed")
    return Array(output.prefix(Int(size)))
}

/// gzip-compresses bytes, as a `.gz` file holds them.
public func gzip(_ input: [UInt8]) -> [UInt8] {
    var stream = z_stream()
    deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
    var source = input
    source.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END, "gzip failed")
        }
    }
    return Array(output.prefix(Int(stream.total_out)))
}
