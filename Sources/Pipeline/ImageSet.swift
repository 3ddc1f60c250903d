// A whole image source held in memory as uint8 NHWC, turned batch by batch into normalised NCHW
// tensors, with random crops and flips applied exactly as recorded per sample.
import Datasets
import Foundation
import Parallel
import Tensor

/// How pixels become inputs: `(pixel / 255 - mean[c]) / std[c]`.
public struct Normalization: Sendable, Equatable {
    public var mean: [Double]
    public var std: [Double]

    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }
}

/// One sample's augmentation: a crop at `(dy, dx)` of the image zero-padded by `padding`, then an
/// optional horizontal flip. `(padding, padding)` without flip is the unchanged image.
public struct View: Sendable, Equatable, Codable {
    public var dy: Int
    public var dx: Int
    public var flip: Bool

    public init(dy: Int, dx: Int, flip: Bool) {
        self.dy = dy
        self.dx = dx
        self.flip = flip
    }

    /// The unchanged image for a given padding.
    public static func identity(padding: Int) -> View { View(dy: padding, dx: padding, flip: false) }

    /// A random view under `augment`.
    public static func random(_ augment: AugmentConfig, generator: inout SeededGenerator) -> View {
        let range = 0...(2 * augment.cropPadding)
        return View(dy: Int.random(in: range, using: &generator), dx: Int.random(in: range, using: &generator),
                    flip: augment.flip && Bool.random(using: &generator))
    }
}

/// Every image and label of a source, in memory.
public final class ImageSet: @unchecked Sendable {
    public let path: String
    public let count, height, width, channels: Int
    public let classNames: [String]
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

/// Builds network inputs `[n, C, H, W]` from uint8 NHWC images in `pixels`: image `indices[k]`
/// seen through `views[k]` (crop of the image zero-padded by `padding`, then an optional mirror),
/// normalised per channel. Shared by training, precompute and verification so all see the same input.
public func makeInputs(_ pixels: UnsafeBufferPointer<UInt8>, imageShape: [Int], indices: [Int], normalization: Normalization,
                       views: [View]?, padding: Int) -> Tensor {
    let (h, w, c) = (imageShape[0], imageShape[1], imageShape[2])
    let out = Tensor.zeros([indices.count, c, h, w])
    let scale = (0..<c).map { Float(1 / (255 * normalization.std[$0])) }
    let shift = (0..<c).map { Float(-normalization.mean[$0] / normalization.std[$0]) }
    let target = SendablePointer(base: out.withUnsafeMutableFloats { $0 })
    let bytes = SendablePointer(base: UnsafeMutablePointer(mutating: pixels.baseAddress!))
    parallelRanges(indices.count, minimumPerWorker: 16) { _, range in
        for slot in range {
            let image = bytes.base + indices[slot] * h * w * c
            let view = views?[slot] ?? View.identity(padding: padding)
            for channel in 0..<c {
                let plane = target.base + (slot * c + channel) * h * w
                for y in 0..<h {
                    let sy = y + view.dy - padding
                    for x in 0..<w {
                        let sx = (view.flip ? w - 1 - x : x) + view.dx - padding
                        let inside = sy >= 0 && sy < h && sx >= 0 && sx < w
                        let pixel = inside ? Float(image[(sy * w + sx) * c + channel]) : 0
                        plane[y * w + x] = pixel * scale[channel] + shift[channel]
                    }
                }
            }
        }
    }
    return out
}
