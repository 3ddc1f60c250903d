// How an image becomes a network input: a view (a crop of the zero-padded image, a mirror),
// then per-channel normalisation; and the table of views a cache stores, so a student sees
// exactly what the teacher saw. Shared by training, precompute, verification and distillation.
import Datasets
import Foundation
import HDF5
import Parallel
import Tensor

/// How pixels become inputs: `(pixel / 255 - mean[c]) / std[c]`.
public struct Normalization: Sendable, Equatable {
    /// Per channel, of pixels scaled to [0, 1].
    public var mean: [Double]
    /// Per channel, of pixels scaled to [0, 1] (> 0).
    public var std: [Double]

    /// Normalisation by `mean` and `std`, one value per channel each.
    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }
}

/// One sample's augmentation: a crop at `(dy, dx)` of the image zero-padded by `padding`, then an
/// optional horizontal flip. `(padding, padding)` without flip is the unchanged image.
public struct View: Sendable, Equatable, Codable {
    /// Row of the crop's top-left corner in the padded image, 0...2 * padding.
    public var dy: Int
    /// Column of the crop's top-left corner in the padded image, 0...2 * padding.
    public var dx: Int
    /// Mirrored left to right after the crop.
    public var flip: Bool

    /// The crop at `(dy, dx)`, mirrored when `flip`.
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

/// The views of a new cache, `[view][image]`: view 0 is every image itself, view v > 0 random
/// crops and flips under `augment` drawn from `seed` and v alone (not from how the work is split).
func cacheViews(count: Int, views: Int, augment: AugmentConfig, seed: UInt64) -> [[View]] {
    var table: [[View]] = [Array(repeating: .identity(padding: augment.cropPadding), count: count)]
    for view in 1..<Swift.max(1, views) {
        var generator = SeededGenerator(seed: seed &* 7919 &+ UInt64(view))
        table.append((0..<count).map { _ in View.random(augment, generator: &generator) })
    }
    return table
}

/// The views stored in a cache, `[view][image]`, checked: each of `views/dy`, `views/dx`,
/// `views/flip` is `[V, N]`, the crop offsets lie in 0...2 * `padding` (the cache's crop padding,
/// which `views` must record too), flips are 0 or 1, and view 0 is every image itself. A table
/// that breaks one of these is an error naming its dataset.
func readViews(_ file: HDF5File, count: Int, views: Int, padding: Int) throws -> [[View]] {
    func table(_ name: String, _ limit: Int) throws -> [UInt8] {
        let path = "views/" + name
        let shape = try file.info(path).shape
        guard shape == [views, count] else {
            throw HDF5Error(file: file.filePath, object: path, message: "is \(shape), not [\(views), \(count)] (views x images)")
        }
        let values = try file.dataset(path, as: UInt8.self).read()
        if let bad = values.firstIndex(where: { Int($0) > limit }) {
            throw HDF5Error(file: file.filePath, object: path, message: "holds \(values[bad]) at view \(bad / count), image \(bad % count): outside 0...\(limit)")
        }
        return values
    }
    let recorded = try file.group("views").hasAttribute("crop_padding") ? try file.group("views").attribute("crop_padding").intValue : nil
    guard recorded == Int64(padding) else {
        throw HDF5Error(file: file.filePath, object: "views", message: "crop_padding is \(recorded.map(String.init) ?? "missing"), the cache settings' augment.crop_padding \(padding)")
    }
    let (dy, dx, flip) = (try table("dy", 2 * padding), try table("dx", 2 * padding), try table("flip", 1))
    for (name, values, identity) in [("dy", dy, padding), ("dx", dx, padding), ("flip", flip, 0)] {
        if let bad = values.prefix(count).firstIndex(where: { Int($0) != identity }) {
            throw HDF5Error(file: file.filePath, object: "views/" + name, message: "view 0 of image \(bad) is \(values[bad]), not \(identity): view 0 must be the image itself")
        }
    }
    return (0..<views).map { view in
        (0..<count).map { image in
            let at = view * count + image
            return View(dy: Int(dy[at]), dx: Int(dx[at]), flip: flip[at] != 0)
        }
    }
}

/// A batch of images; with `skipBad`, an unreadable image becomes black and is returned among
/// the skipped rows.
func readImages(_ source: any ImageSource, rows: Range<Int>, skipBad: Bool, report: Bool) throws -> (ImageBatch, Set<Int>) {
    do { return (try source.batch(rows), []) } catch where skipBad {
        var pixels: [UInt8] = []
        var skipped = Set<Int>()
        let size = source.height * source.width * source.channels
        for row in rows {
            do { pixels += try source.batch([row]).pixels } catch {
                if report { FileHandle.standardError.write(Data("precompute: skipping image \(row) (stored black): \(error)\n".utf8)) }
                pixels += [UInt8](repeating: 0, count: size)
                skipped.insert(row)
            }
        }
        return (ImageBatch(pixels: pixels, labels: rows.map { source.labels[$0] }, height: source.height,
                           width: source.width, channels: source.channels), skipped)
    }
}

