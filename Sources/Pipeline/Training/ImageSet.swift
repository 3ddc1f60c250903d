// A whole image source held in memory as uint8 NHWC, turned batch by batch into normalised NCHW
// tensors, with random crops and flips applied exactly as recorded per sample.
import Datasets
import Foundation
import Tensor

/// Every image and label of a source, in memory.
public final class ImageSet: @unchecked Sendable {
    /// The source's file or folder.
    public let path: String
    /// N, and the size of each image.
    public let count, height, width, channels: Int
    /// The class names in label order.
    public let classNames: [String]
    /// `[N]`: each image's class.
    public let labels: [Int32]
    /// `count * height * width * channels` bytes, NHWC.
    public let pixels: [UInt8]

    /// Reads all of `source` (in chunks, with progress on long reads).
    public init(_ source: any ImageSource) throws {
        guard source.count > 0 else { throw DatasetError(source.path, "has no images") }
        path = source.path
        (count, height, width, channels) = (source.count, source.height, source.width, source.channels)
        classNames = source.classNames
        labels = source.labels
        var pixels = [UInt8]()
        pixels.reserveCapacity(count * height * width * channels)
        let chunk = 8192
        let bar = count > 4 * chunk ? ProgressBar("reading \(path)", total: count) : nil
        for start in stride(from: 0, to: count, by: chunk) {
            pixels += try source.batch(start..<Swift.min(count, start + chunk)).pixels
            bar?.update(Swift.min(count, start + chunk))
        }
        self.pixels = pixels
    }

    /// Opens a file or folder and reads it.
    public convenience init(path: String) throws {
        try self.init(try openImageSource(path))
    }

    /// The images at `indices` as a `[n, C, H, W]` float32 tensor, each seen through its view
    /// (`views[k]` for image `k`; unchanged when nil), with `padding` the crop padding.
    public func batch(_ indices: [Int], normalization: Normalization, views: [View]? = nil, padding: Int = 0) -> Tensor {
        pixels.withUnsafeBufferPointer { source in
            makeInputs(source, imageShape: [height, width, channels], indices: indices, normalization: normalization,
                       views: views, padding: padding)
        }
    }
}
