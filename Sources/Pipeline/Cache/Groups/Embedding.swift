// `embedding [V, N, D]` float32: the teacher's penultimate embedding (the input of its final
// linear layer), what CRD contrasts the student's own with.
import HDF5
import Tensor

/// The teacher's penultimate embedding per image.
public struct Embedding: CacheGroup {
    /// D.
    public let dimension: Int

    public init(dimension: Int) { self.dimension = dimension }

    public var name: String { "embedding" }
    public static let option = "cache.embedding: true"

    public var datasets: [CacheDataset] {
        [CacheDataset(path: "embedding", type: .float32, row: [dimension],
                      attributes: [("meaning", "the teacher's penultimate embedding: the input of its final linear layer")])]
    }

    public func rows(from pass: TeacherPass) -> [CachedValues] { [.float32(pass.output.embedding!.scalars)] }

    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare("embedding", cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    /// `[n, D]`.
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, dimension], scalars: rows[0].floats) }

    public static func stored(in file: HDF5File) throws -> [Embedding] {
        guard try file.contains("embedding") else { return [] }
        return [Embedding(dimension: try file.info("embedding").shape.last ?? 0)]
    }
}
