// 8-bit images in memory, height x width x channels (HWC), grey (1 channel) or RGB (3).

/// An 8-bit image, pixels in row-major HWC order.
public struct Image: Equatable, Sendable {
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int
    /// `height * width * channels` bytes, row by row, channels interleaved.
    public var pixels: [UInt8]

    /// An image from `height * width * channels` HWC bytes; `channels` must be 1 or 3.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "images are grey (1) or RGB (3), not \(channels) channels")
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for a \(width)x\(height)x\(channels) image")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// A black image of the given size.
    public init(width: Int, height: Int, channels: Int) {
        self.init(width: width, height: height, channels: channels, pixels: [UInt8](repeating: 0, count: width * height * channels))
    }

    /// The value of one channel of one pixel.
    public subscript(y: Int, x: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + channel] }
        set { pixels[(y * width + x) * channels + channel] = newValue }
    }
}
