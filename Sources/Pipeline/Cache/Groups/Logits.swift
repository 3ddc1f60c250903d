// `logits [V, N, K]` float32: the teacher's logits per image and view (evaluation mode).
import HDF5
import Tensor

/// All K logits of every row.
public struct Logits: LogitsGroup {
    public let classes: Int

    public init(classes: Int) { self.classes = classes }

    public var name: String { "logits" }
    public static let option = "cache.top_k: 0"

    public var datasets: [CacheDataset] {
        [CacheDataset(path: "logits", type: .float32, row: [classes],
                      attributes: [("meaning", "the teacher's logits per image (evaluation mode)")])]
    }

    public func rows(from pass: TeacherPass) -> [CachedValues] { [.float32(pass.output.logits!.scalars)] }

    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare("logits", cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    public func logits(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, classes], scalars: rows[0].floats) }

    public func predictedClasses(_ rows: [CachedValues], count n: Int) -> [Int] { argmaxRows(logits(rows, count: n)) }

    public static func stored(in file: HDF5File) throws -> [Logits] {
        guard try file.contains("logits") else { return [] }
        return [Logits(classes: try file.info("logits").shape.last ?? 0)]
    }
}
