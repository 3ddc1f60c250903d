// Reading a cache by rows: the rows of one view of a `[V, N, ...]` group, in any order, into a
// caller's buffer. This is what distillation reads every batch.
import HDF5
import Tensor

/// A read-only cache with its groups opened once.
public final class CacheReader {
    public let path: String
    let file: HDF5File
    /// N, the number of images.
    public let count: Int
    /// V, the number of views.
    public let views: Int

    public init(path: String) throws {
        self.path = path
        file = try HDF5File.open(path)
        let labels = try file.info("labels").shape
        count = labels[0]
        views = try file.info("views/dy").shape[0]
    }

    /// The dataset paths of `[V, N, ...]` groups, and the values per row of each.
    public func groups() throws -> [(path: String, rowLength: Int, type: ElementType?)] {
        try file.walk().compactMap { entry in
            guard case .dataset(let info) = entry.kind, info.shape.count >= 2, info.shape[0] == views, info.shape[1] == count,
                  !entry.path.hasPrefix("/views/") else { return nil }
            return (String(entry.path.dropFirst()), info.shape.dropFirst(2).reduce(1, *), info.elementType)
        }
    }

    /// Rows `indices` of view `view` of `group`, row after row in the order given.
    public func rows<T: HDF5Element>(_ group: String, as _: T.Type = T.self, view: Int, indices: [Int]) throws -> [T] {
        let dataset = try file.dataset(group, as: T.self)
        let shape = try dataset.shape
        let rowShape = Array(shape.dropFirst(2))
        let rowLength = rowShape.reduce(1, *)
        return try [T](unsafeUninitializedCapacity: rowLength * indices.count) { buffer, initialized in
            for (slot, index) in indices.enumerated() {
                let target = UnsafeMutableBufferPointer(rebasing: buffer[(slot * rowLength)..<((slot + 1) * rowLength)])
                try dataset.read(offset: [view, index] + rowShape.map { _ in 0 }, count: [1, 1] + rowShape, into: target)
            }
            initialized = rowLength * indices.count
        }
    }

    /// Rows `rows` (consecutive) of view `view` of `group`: one read, as fast as the disk allows.
    public func block<T: HDF5Element>(_ group: String, as _: T.Type = T.self, view: Int, rows: Range<Int>) throws -> [T] {
        let dataset = try file.dataset(group, as: T.self)
        let rowShape = Array(try dataset.shape.dropFirst(2))
        return try dataset.read(offset: [view, rows.lowerBound] + rowShape.map { _ in 0 }, count: [1, rows.count] + rowShape)
    }
}

/// An epoch's mini-batches as random blocks of consecutive images: the images are cut into blocks
/// of `blockRows`, the blocks shuffled, and each batch takes `batchSize / blockRows` of them (rows
/// shuffled within the batch). Reading whole blocks costs one read each instead of one per image.
public func blockShuffledBatches(count: Int, batchSize: Int, blockRows: Int, generator: inout SeededGenerator) -> [[Range<Int>]] {
    var blocks = stride(from: 0, to: count, by: blockRows).map { $0..<Swift.min(count, $0 + blockRows) }
    blocks.shuffle(using: &generator)
    let perBatch = Swift.max(1, batchSize / blockRows)
    return stride(from: 0, to: blocks.count, by: perBatch).map { Array(blocks[$0..<Swift.min(blocks.count, $0 + perBatch)]) }
}
