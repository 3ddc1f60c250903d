// `embedding [V, N, D]` float32: the teacher's penultimate embedding (the input of its final
// linear layer), what CRD contrasts the student's own with.
import HDF5
import Tensor

/// The teacher's penultimate embedding per image.
public struct Embedding: CacheGroup {
    /// D.
    public let dimension: Int

    /// Embeddings of `dimension` values per image.
    public init(dimension: Int) { self.dimension = dimension }

    /// `embedding`, the dataset's path.
    public var name: String { "embedding" }
    /// The option that adds the embedding.
    public static let option = "cache.embedding: true"

    /// One float32 dataset `[V, N, D]`.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: "embedding", type: .float32, row: [dimension],
                      attributes: [("meaning", "the teacher's penultimate embedding: the input of its final linear layer")])]
    }

    /// The batch's `[n, D]` embeddings.
    public func rows(from pass: TeacherPass) -> [CachedValues] { [.float32(pass.output.embedding!.scalars)] }

    /// Cached and recomputed embeddings agree within 1e-4 of the largest recomputed magnitude.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        [compare("embedding", cached[0].floats, live[0].floats, relative: 1e-4)]
    }

    /// `[n, D]`.
    public func tensor(_ rows: [CachedValues], count n: Int) -> Tensor { Tensor(shape: [n, dimension], scalars: rows[0].floats) }

    /// The `embedding` dataset of `file`, if any.
    public static func stored(in file: HDF5File) throws -> [Embedding] {
        guard try file.contains("embedding") else { return [] }
        return [Embedding(dimension: try file.info("embedding").shape.last ?? 0)]
    }
}
