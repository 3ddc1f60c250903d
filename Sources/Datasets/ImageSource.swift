// One abstraction over where images come from: a folder of PNGs or a packed HDF5 file.
// Pixels are uint8 in NHWC order (N images, H rows, W columns, C channels).
import Foundation
import ImageIO

/// A batch of images and their labels; `pixels` holds `count * height * width * channels` bytes.
public struct ImageBatch: Sendable {
    /// uint8 pixels, `[count, height, width, channels]` row-major (NHWC).
    public var pixels: [UInt8]
    /// `[count]` class indices, one per image.
    public var labels: [Int32]
    /// Rows per image.
    public var height: Int
    /// Columns per image.
    public var width: Int
    /// 1 (grey) or 3 (RGB).
    public var channels: Int

    /// Images in the batch.
    public var count: Int { labels.count }

    /// A batch from NHWC `pixels` and one label per image.
    public init(pixels: [UInt8], labels: [Int32], height: Int, width: Int, channels: Int) {
        self.pixels = pixels
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// Image `index` of the batch.
    public func image(_ index: Int) -> Image {
        let size = height * width * channels
        return Image(width: width, height: height, channels: channels,
                     pixels: Array(pixels[(index * size)..<((index + 1) * size)]))
    }
}

/// A labelled set of same-sized 8-bit images that later stages read by index.
public protocol ImageSource: AnyObject {
    /// Where the images are (a folder or a file), for messages.
    var path: String { get }
    /// Number of images.
    var count: Int { get }
    /// Rows per image.
    var height: Int { get }
    /// Columns per image.
    var width: Int { get }
    /// 1 (grey) or 3 (RGB).
    var channels: Int { get }
    /// Class names in label order.
    var classNames: [String] { get }
    /// The label of every image, in index order.
    var labels: [Int32] { get }
    /// The images at `indices`, in that order.
    func batch(_ indices: [Int]) throws -> ImageBatch
}

extension ImageSource {
    /// One image and its label.
    public func sample(_ index: Int) throws -> (image: Image, label: Int32) {
        let batch = try self.batch([index])
        return (batch.image(0), batch.labels[0])
    }

    /// The images `range`, in order.
    public func batch(_ range: Range<Int>) throws -> ImageBatch {
        try batch(Array(range))
    }

    /// `N x H x W x C`, as text.
    public var shapeDescription: String { "\(count)x\(height)x\(width)x\(channels)" }
}

/// An image source that cannot be opened or read: which path and what is wrong.
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    /// The file or folder concerned.
    public let path: String
    /// What is wrong.
    public let message: String
    /// An error about `path`.
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Opens a folder of PNGs (`root/<class>/<image>.png`) or a packed HDF5 file, by what `path` is.
public func openImageSource(_ path: String, threads: Int = 2) throws -> any ImageSource {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DatasetError(path, "no such file or folder")
    }
    if isDirectory.boolValue { return try PNGFolderSource(root: path, threads: threads) }
    return try PackedImageSource(path: path)
}
