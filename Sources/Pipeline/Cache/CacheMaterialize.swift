// `kd cache materialize`: a virtual (joined) cache copied into one ordinary file, laid out as a
// single-process precompute lays out its cache, for moving it without its shards.
import Foundation
import HDF5

/// Copies a cache into one self-contained file.
public enum CacheMaterialize {
    /// Copies every group, dataset and attribute of `input` into `output` (written under a
    /// temporary name, then renamed), reading through any virtual datasets, with a progress bar.
    /// The attributes describing shards are left out: the copy is an ordinary cache.
    /// Returns the bytes of data copied.
    @discardableResult
    public static func run(input: String, output: String) throws -> Int {
        guard absolutePath(input) != absolutePath(output) else {
            throw ConfigError(file: output, message: "is the input; materialize into another file")
        }
        let source = try HDF5File.open(input)
        let chunkRows = try CacheConfig(recordedIn: source).chunkRows
        let entries = try source.walk()
        let total = entries.reduce(0) { total, entry in
            if case .dataset(let info) = entry.kind { return total + info.logicalBytes }
            return total
        }
        let bar = ProgressBar("materialize", total: total >> 20, unit: "MiB")
        var copied = 0
        try HDF5File.write(atomicallyTo: output) { file in
            for entry in entries {
                let name = String(entry.path.dropFirst())
                switch entry.kind {
                case .group:
                    let group: HDF5Object = name.isEmpty ? file : try file.createGroup(name)
                    for (key, value) in entry.attributes where !(name.isEmpty && isShardAttribute(key)) { try group.setAttribute(key, value) }
                case .dataset(let info):
                    let from = try source.rawDataset(name)
                    let to = try file.createDataset(name, typeOf: from, shape: info.shape,
                                                    storage: CacheWriter.storage(for: name, shape: info.shape, chunkRows: chunkRows))
                    for (key, value) in entry.attributes { try to.setAttribute(key, value) }
                    for block in blocks(of: info.shape, elementSize: info.elementSize) {
                        try to.writeBytes(try from.readBytes(offset: block.offset, count: block.count), offset: block.offset, count: block.count)
                        copied += block.count.reduce(1, *) * info.elementSize
                        bar.update(copied >> 20)
                    }
                }
            }
        }
        bar.finish()
        return copied
    }

    /// Whether a root attribute describes the shards of a join.
    static func isShardAttribute(_ key: String) -> Bool {
        key.hasPrefix("shard_") || key == "joined_at"
    }

    /// Blocks of at most about 8 MiB covering a dataset of `shape`, in row-major order: whole
    /// trailing dimensions, a run along the first dimension that does not fit whole.
    static func blocks(of shape: [Int], elementSize: Int, limit: Int = 8 << 20) -> [(offset: [Int], count: [Int])] {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else { return shape.isEmpty ? [([], [])] : [] }
        // The axis along which blocks are cut: everything after it fits in one block.
        var axis = shape.count - 1
        while axis > 0 && shape[axis...].reduce(1, *) * elementSize <= limit { axis -= 1 }
        let inner = shape[(axis + 1)...].reduce(1, *) * elementSize
        let step = Swift.max(1, limit / Swift.max(1, inner))
        var blocks: [(offset: [Int], count: [Int])] = []
        var outer = [Int](repeating: 0, count: axis)
        while true {
            for start in stride(from: 0, to: shape[axis], by: step) {
                let offset = outer + [start] + shape[(axis + 1)...].map { _ in 0 }
                let count = outer.map { _ in 1 } + [Swift.min(step, shape[axis] - start)] + Array(shape[(axis + 1)...])
                blocks.append((offset, count))
            }
            // The next index of the dimensions before `axis`, last fastest.
            var position = axis - 1
            while position >= 0 {
                outer[position] += 1
                if outer[position] < shape[position] { break }
                outer[position] = 0
                position -= 1
            }
            if position < 0 { return blocks }
        }
    }
}
