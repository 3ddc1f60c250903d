// `attention/<layer> [V, N, H*W]` float32: a teacher layer's attention map, `F(A)` over channels
// per position divided by its L2 norm, with the `mode` and `p` it was made with (students' maps
// are made with the same, read back from these attributes).
import HDF5
import Losses
import Tensor

/// The normalised attention map of one teacher layer.
public struct AttentionMaps: CacheGroup {
    /// The teacher's named layer the map is made from (`layer2`).
    public let layer: String
    /// H, the map's height (that of the layer's output).
    public let height: Int
    /// W, the map's width (that of the layer's output).
    public let width: Int
    /// How the channels are pooled at each position.
    public let mode: AttentionMode
    /// The exponent of `sum_p` and `max_p` (the paper's 2).
    public let p: Double

    /// The map of `layer`, whose output is `[C, height, width]`.
    public init(layer: String, height: Int, width: Int, mode: AttentionMode, p: Double) {
        (self.layer, self.height, self.width, self.mode, self.p) = (layer, height, width, mode, p)
    }

    /// `attention/<layer>`, the dataset's path.
    public var name: String { "attention/" + layer }
    /// The option that lists the attention layers.
    public static let option = "cache.attention.layers"

    /// One float32 dataset `[V, N, H*W]` with attributes height, width, p, mode and meaning.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: name, type: .float32, row: [height * width],
                      attributes: [("height", .int(Int64(height))), ("width", .int(Int64(width))), ("p", .double(p)),
                                   ("mode", .string(mode.rawValue)),
                                   ("meaning", "F(A) over channels per position (mode: sum_p = sum |A_c|^p, sum = sum |A_c|, max_p = max |A_c|^p), divided by its L2 norm per image")])]
    }

    /// The map of `features [n, C, H, W]` as this group makes it: the function students' maps must match.
    public func map(_ features: Tensor) -> Tensor { attentionMap(features, mode: mode, p: p) }

    /// The batch's `[n, H*W]` maps of the teacher layer's output.
    public func rows(from pass: TeacherPass) -> [CachedValues] {
        [.float32(GradMode.withoutGrad { map(pass.feature(layer).detached) }.scalars)]
    }

    /// Cached and recomputed maps agree within 1e-4 of the largest recomputed value.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare(name, cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    /// `[n, H*W]`.
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, height * width], scalars: rows[0].floats) }

    /// Every `attention/<layer>` dataset of `file`; a missing attribute or an unknown mode is an error.
    public static func stored(in file: HDF5File) throws -> [AttentionMaps] {
        guard try file.contains("attention") else { return [] }
        return try file.group("attention").childNames().map { layer in
            let path = "attention/" + layer
            let dataset = try file.dataset(path, as: Float.self)
            func attribute(_ key: String) throws -> AttributeValue {
                guard try dataset.hasAttribute(key) else {
                    throw HDF5Error(file: file.filePath, object: path, message: "has no '\(key)' attribute (attention maps need height, width, mode and p)")
                }
                return try dataset.attribute(key)
            }
            let modeName = try attribute("mode").stringValue ?? ""
            guard let mode = AttentionMode(rawValue: modeName) else {
                throw HDF5Error(file: file.filePath, object: path, message: "mode '\(modeName)' is not one of \(AttentionMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return AttentionMaps(layer: layer, height: Int(try attribute("height").intValue ?? 0), width: Int(try attribute("width").intValue ?? 0),
                                 mode: mode, p: try attribute("p").doubleValue ?? 2)
        }
    }
}
