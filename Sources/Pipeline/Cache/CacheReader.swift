// Reading a cache by rows: the rows of one view of a `[V, N, ...]` group, in any order. This is
// what distillation reads every batch; batches made of blocks of consecutive rows cost one read
// per block.
import Foundation
import HDF5

/// A read-only cache, its size and its groups.
public final class CacheReader {
    /// The cache file's path.
    public let path: String
    let file: HDF5File
    /// N, the number of images.
    public let count: Int
    /// V, the number of views.
    public let views: Int
    /// The groups the file holds.
    public let schema: CacheSchema
    /// The shards of a joined cache, held open so that each read through its virtual datasets
    /// finds its source file already open in the library instead of opening it again (up to 512
    /// of them, well inside the usual limit of 1,024 open files; more are opened per read).
    private let shards: [HDF5File]
    /// Datasets opened once and kept: opening a virtual dataset reads all its mappings (one per
    /// shard), which would otherwise be paid on every read.
    private var opened: [String: HDF5Object] = [:]
    private let openedLock = NSLock()

    /// Opens a complete cache; one whose precompute stopped part-way is refused, saying how much
    /// is missing (its unfinished rows hold no teacher outputs).
    public init(path: String) throws {
        self.path = path
        file = try HDF5File.open(path)
        let folder = (path as NSString).deletingLastPathComponent
        let shardFiles = try file.hasAttribute("shard_files") ? try file.attribute("shard_files").stringsValue ?? [] : []
        shards = shardFiles.count <= 512 ? try shardFiles.map { try HDF5File.open(folder.isEmpty ? $0 : folder + "/" + $0) } : []
        let progress = try file.dataset("progress", as: UInt8.self).read()
        let missing = progress.filter { $0 == 0 }.count
        guard missing == 0 else {
            throw HDF5Error(file: path, object: nil, message: "is incomplete: \(missing) of \(progress.count) batches were never written (its precompute stopped part-way); kd precompute --config <the pipeline> resumes it")
        }
        count = try file.info("labels").shape[0]
        views = try file.info("views/dy").shape[0]
        schema = try CacheSchema(file: file)
    }

    /// The rows `indices` of view `view` of every dataset of `group`, in the order given.
    public func rows(of group: any CacheGroup, view: Int, indices: [Int]) throws -> [CachedValues] {
        let runs = Self.runs(indices)
        return try group.datasets.map { dataset in try values(dataset.path, type: dataset.type, view: view, runs: runs, row: dataset.row) }
    }

    /// Consecutive runs of `indices`, in order (batches are made of blocks, so there are few).
    static func runs(_ indices: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for index in indices {
            if let last = runs.last, last.upperBound == index {
                runs[runs.count - 1] = last.lowerBound..<(index + 1)
            } else {
                runs.append(index..<(index + 1))
            }
        }
        return runs
    }

    /// The `[V, N, ...]` datasets of the file, and the values per row of each.
    public func datasets() throws -> [(path: String, rowLength: Int, type: ElementType?)] {
        try file.walk().compactMap { entry in
            guard case .dataset(let info) = entry.kind, info.shape.count >= 2, info.shape[0] == views, info.shape[1] == count,
                  !entry.path.hasPrefix("/views/") else { return nil }
            return (String(entry.path.dropFirst()), info.shape.dropFirst(2).reduce(1, *), info.elementType)
        }
    }

    /// Rows `indices` of view `view` of dataset `path`, one read per row (what the benchmark compares blocks with).
    public func rows<T: HDF5Element>(_ path: String, as _: T.Type = T.self, view: Int, indices: [Int]) throws -> [T] {
        let dataset = try self.dataset(path, as: T.self)
        let rowShape = Array(try dataset.shape.dropFirst(2))
        let rowLength = rowShape.reduce(1, *)
        return try [T](unsafeUninitializedCapacity: rowLength * indices.count) { buffer, initialized in
            for (slot, index) in indices.enumerated() {
                let target = UnsafeMutableBufferPointer(rebasing: buffer[(slot * rowLength)..<((slot + 1) * rowLength)])
                try dataset.read(offset: [view, index] + rowShape.map { _ in 0 }, count: [1, 1] + rowShape, into: target)
            }
            initialized = rowLength * indices.count
        }
    }

    /// Rows `rows` (consecutive) of view `view` of dataset `path`: one read.
    public func block<T: HDF5Element>(_ path: String, as _: T.Type = T.self, view: Int, rows: Range<Int>) throws -> [T] {
        let dataset = try self.dataset(path, as: T.self)
        let rowShape = Array(try dataset.shape.dropFirst(2))
        return try dataset.read(offset: [view, rows.lowerBound] + rowShape.map { _ in 0 }, count: [1, rows.count] + rowShape)
    }

    /// The dataset `path` read as `T`, opened on first use and kept open.
    private func dataset<T: HDF5Element>(_ path: String, as _: T.Type) throws -> Dataset<T> {
        openedLock.lock()
        defer { openedLock.unlock() }
        if let dataset = opened[path] as? Dataset<T> { return dataset }
        let dataset = try file.dataset(path, as: T.self)
        opened[path] = dataset
        return dataset
    }

    /// Rows `runs` of view `view` of dataset `path` (`[V, N] + row`) in its stored type, one array.
    private func values(_ path: String, type: ElementType, view: Int, runs: [Range<Int>], row: [Int]) throws -> CachedValues {
        switch type {
        case .float32: .float32(try readRuns(dataset(path, as: Float.self), view: view, runs: runs, row: row))
        case .float16: .float16(try readRuns(dataset(path, as: Float16.self), view: view, runs: runs, row: row))
        case .uint8: .uint8(try readRuns(dataset(path, as: UInt8.self), view: view, runs: runs, row: row))
        case .uint16: .uint16(try readRuns(dataset(path, as: UInt16.self), view: view, runs: runs, row: row))
        case .int32: .int32(try readRuns(dataset(path, as: Int32.self), view: view, runs: runs, row: row))
        case .int8, .int16, .uint32, .uint64, .int64, .float64:
            throw HDF5Error(file: self.path, object: path, message: "cache groups store float32, float16, uint8, uint16 or int32, not \(type)")
        }
    }
}
