// `logits [V, N, K]` float32: the teacher's logits per image and view (evaluation mode).
import HDF5
import Tensor

/// All K logits of every row.
public struct Logits: LogitsGroup {
    /// K, the number of classes.
    public let classes: Int

    /// All the logits of `classes` classes.
    public init(classes: Int) { self.classes = classes }

    /// `logits`, the dataset's path.
    public var name: String { "logits" }
    /// The option setting that caches all logits.
    public static let option = "cache.top_k: 0"

    /// One float32 dataset `[V, N, K]`.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: "logits", type: .float32, row: [classes],
                      attributes: [("meaning", "the teacher's logits per image (evaluation mode)")])]
    }

    /// The batch's `[n, K]` logits.
    public func rows(from pass: TeacherPass) -> [CachedValues] { [.float32(pass.output.logits!.scalars)] }

    /// Cached and recomputed logits agree within 1e-4 of the largest recomputed magnitude.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare("logits", cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    /// `[n, K]`: the cached logits as they are.
    public func logits(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, classes], scalars: rows[0].floats) }

    /// The argmax of each row.
    public func predictedClasses(_ rows: [CachedValues], count n: Int) -> [Int] { argmaxRows(logits(rows, count: n)) }

    /// The `logits` dataset of `file`, if any.
    public static func stored(in file: HDF5File) throws -> [Logits] {
        guard try file.contains("logits") else { return [] }
        return [Logits(classes: try file.info("logits").shape.last ?? 0)]
    }
}
