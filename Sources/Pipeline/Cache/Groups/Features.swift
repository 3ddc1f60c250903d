// `features/<layer> [V, N, C, H, W]`: a teacher layer's output (FitNet's hints), float16 by
// default (half the bytes; 3 significant digits) or float32.
import HDF5
import Tensor

/// The output of one teacher layer.
public struct Features: CacheGroup {
    /// The teacher's named layer (`layer2`).
    public let layer: String
    /// `[C, H, W]`.
    public let shape: [Int]
    /// `.float16` or `.float32`.
    public let type: ElementType

    /// The output of `layer`, `shape` (`[C, H, W]`) per image, stored as `type`.
    public init(layer: String, shape: [Int], type: ElementType) {
        self.layer = layer
        self.shape = shape
        self.type = type
    }

    /// `features/<layer>`, the dataset's path.
    public var name: String { "features/" + layer }
    /// The option that lists the feature layers.
    public static let option = "cache.features"

    /// One dataset `[V, N, C, H, W]` of `type`.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: name, type: type, row: shape, attributes: [("meaning", "the teacher layer's output [C,H,W] per image")])]
    }

    /// The batch's `[n, C, H, W]` layer outputs, rounded to float16 when so stored.
    public func rows(from pass: TeacherPass) -> [CachedValues] {
        let values = pass.feature(layer).scalars
        return [type == .float16 ? .float16(values.map { Float16($0) }) : .float32(values)]
    }

    /// Within 2e-3 (float16) or 1e-4 (float32) of the largest recomputed magnitude.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare(name, cached[0].floats, live[0].floats, relative: type == .float16 ? 2e-3 : 1e-4)]
    }

    /// `[n, C, H, W]` float32, widened straight into the tensor (no intermediate `[Float]`).
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor {
        let tensor = Tensor.zeros([n] + shape)
        precondition(rows[0].count == tensor.count, "\(rows[0].count) cached values for \(n) images of \(shape)")
        tensor.withUnsafeMutableFloats { rows[0].widen(into: $0) }
        return tensor
    }

    /// Every `features/<layer>` dataset of `file`, with its stored type.
    public static func stored(in file: HDF5File) throws -> [Features] {
        guard try file.contains("features") else { return [] }
        return try file.group("features").childNames().map { layer in
            let info = try file.info("features/" + layer)
            return Features(layer: layer, shape: Array(info.shape.dropFirst(2)), type: info.elementType ?? .float32)
        }
    }
}
