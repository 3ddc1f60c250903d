// A cache computed in parts: shard r of N holds the images of a contiguous range (every view of
// them) in a complete cache file of its own beside the cache, `cache.shards/shard-000r-of-000N.h5`.
// Ranges start and end on batch boundaries, so every shard runs the teacher on exactly the batches
// a single process would, and the joined cache equals the single-process one.
import Foundation

/// Which part of a cache one process computes: shard `index` of `count` (`--shard index/count`).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// 0-based, below `count`.
    public var index: Int
    /// How many shards the cache is split into (at least 1).
    public var count: Int

    /// Shard `index` of `count`.
    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `r/N` (`3/16`), with `0 <= r < N`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (0..<count).contains(index) else {
            throw ConfigError(file: "--shard", message: "'\(text)' is not r/N with 0 <= r < N (shard 3 of 16 is 3/16)")
        }
        self.init(index: index, count: count)
    }

    public var description: String { "\(index)/\(count)" }

    /// The images of this shard among `images` cut into batches of `batchSize`: batches
    /// `index * B / count ..< (index + 1) * B / count` of the `B` a view has, so the shards of one
    /// count tile the images and differ by at most one batch. More shards than batches is refused.
    func images(of images: Int, batchSize: Int) throws -> Range<Int> {
        let batches = (images + batchSize - 1) / batchSize
        guard count <= batches else {
            throw ConfigError(file: "--shard \(self)", message: "\(count) shards need at least \(count) batches, and \(images) images in batches of \(batchSize) make \(batches); use fewer shards or a smaller cache.batch_size")
        }
        let first = index * batches / count, end = (index + 1) * batches / count
        return (first * batchSize)..<Swift.min(images, end * batchSize)
    }
}

/// Where the shards of a cache live: `runs/<name>/cache.shards/` beside `runs/<name>/cache.h5`.
public enum ShardFiles {
    /// The folder of the shards of `cache` (`x/cache.h5` -> `x/cache.shards`).
    public static func folder(of cache: String) -> String {
        ((cache as NSString).deletingPathExtension) + ".shards"
    }

    /// The file name of one shard (`shard-0003-of-0016.h5`).
    public static func name(_ shard: Shard) -> String {
        String(format: "shard-%04d-of-%04d.h5", shard.index, shard.count)
    }

    /// The shard's path.
    public static func path(of shard: Shard, cache: String) -> String { folder(of: cache) + "/" + name(shard) }

    /// The shard's path relative to the cache's folder, as the joined cache records it (so the
    /// run folder can move).
    static func relativePath(of shard: Shard, cache: String) -> String {
        (folder(of: cache) as NSString).lastPathComponent + "/" + name(shard)
    }

    /// The shard counts present in the folder, and for each the indices found.
    static func present(cache: String) -> [Int: Set<Int>] {
        var found: [Int: Set<Int>] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder(of: cache))) ?? []
        for name in names {
            guard name.hasPrefix("shard-"), name.hasSuffix(".h5") else { continue }
            let parts = name.dropFirst(6).dropLast(3).components(separatedBy: "-of-")
            guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else { continue }
            found[count, default: []].insert(index)
        }
        return found
    }
}

/// Root attributes a shard has and a whole cache does not.
enum ShardAttributes {
    static let index = "shard_index", count = "shard_count", firstImage = "shard_first_image", datasetImages = "dataset_num_samples"
    /// Those a joined cache drops (it keeps `shard_count` and adds its own lists).
    static let perShard = [index, firstImage, datasetImages]
}
