// `attention/<stage> [V, N, H*W]` float32: a teacher stage's attention map, `F(A)` over channels
// per position divided by its L2 norm, with the `mode` and `p` it was made with (students' maps
// are made with the same, read back from these attributes).
import HDF5
import Losses
import Tensor

/// The normalised attention map of one teacher stage.
public struct AttentionMaps: CacheGroup {
    public let stage: String
    public let height: Int
    public let width: Int
    public let mode: AttentionMode
    public let p: Double

    public init(stage: String, height: Int, width: Int, mode: AttentionMode, p: Double) {
        (self.stage, self.height, self.width, self.mode, self.p) = (stage, height, width, mode, p)
    }

    public var name: String { "attention/" + stage }
    public static let option = "cache.attention.layers"

    public var datasets: [CacheDataset] {
        [CacheDataset(path: name, type: .float32, row: [height * width],
                      attributes: [("height", .int(Int64(height))), ("width", .int(Int64(width))), ("p", .double(p)),
                                   ("mode", .string(mode.rawValue)),
                                   ("meaning", "F(A) over channels per position (mode: sum_p = sum |A_c|^p, sum = sum |A_c|, max_p = max |A_c|^p), divided by its L2 norm per image")])]
    }

    /// The map of `features [n, C, H, W]` as this group makes it: the function students' maps must match.
    public func map(_ features: Tensor) -> Tensor { attentionMap(features, mode: mode, p: p) }

    public func rows(from pass: TeacherPass) -> [CachedValues] {
        [.float32(GradMode.withoutGrad { map(pass.feature(stage).detached) }.scalars)]
    }

    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare(name, cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    /// `[n, H*W]`.
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, height * width], scalars: rows[0].floats) }

    public static func stored(in file: HDF5File) throws -> [AttentionMaps] {
        guard try file.contains("attention") else { return [] }
        return try file.group("attention").childNames().map { stage in
            let path = "attention/" + stage
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
            return AttentionMaps(stage: stage, height: Int(try attribute("height").intValue ?? 0), width: Int(try attribute("width").intValue ?? 0),
                                 mode: mode, p: try attribute("p").doubleValue ?? 2)
        }
    }
}
