// `features/<stage> [V, N, C, H, W]`: a teacher stage's output (FitNet's hints), float16 by
// default (half the bytes; 3 significant digits) or float32.
import HDF5
import NN
import Tensor

/// The output of one teacher stage.
public struct Features: CacheGroup {
    public let stage: String
    /// `[C, H, W]`.
    public let shape: [Int]
    /// `.float16` or `.float32`.
    public let type: ElementType

    public init(stage: String, shape: [Int], type: ElementType) {
        self.stage = stage
        self.shape = shape
        self.type = type
    }

    public var name: String { "features/" + stage }
    public static let option = "cache.features"

    public var datasets: [CacheDataset] {
        [CacheDataset(path: name, type: type, row: shape, attributes: [("meaning", "the teacher stage's output [C,H,W] per image")])]
    }

    public func rows(from pass: TeacherPass) -> [CachedValues] {
        let values = pass.feature(stage).scalars
        return [type == .float16 ? .float16(values.map { Float16($0) }) : .float32(values)]
    }

    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare(name, cached[0].floats, live[0].floats, relative: type == .float16 ? 2e-3 : 1e-4)]
    }

    /// `[n, C, H, W]` float32.
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n] + shape, scalars: rows[0].floats) }

    public static func stored(in file: HDF5File) throws -> [Features] {
        guard try file.contains("features") else { return [] }
        return try file.group("features").childNames().map { stage in
            let info = try file.info("features/" + stage)
            return Features(stage: stage, shape: Array(info.shape.dropFirst(2)), type: info.elementType ?? .float32)
        }
    }
}
