// `kd cache join`: one cache file over the shards of a sharded precompute. Every dataset of the
// joined file is an HDF5 virtual dataset (HDF5 1.10's `H5Pset_virtual`) whose blocks are the
// shards' datasets, named by paths relative to the cache's folder, so readers (distill, inspect,
// verify-cache, h5py, h5dump) see one ordinary-looking cache and the run folder can move.
import Foundation
import HDF5

/// What a join made.
public struct JoinSummary: Sendable {
    /// The joined cache.
    public var path: String
    /// How many shards it reads.
    public var shards: Int
    /// N, the images of the whole cache.
    public var images: Int
    /// Datasets made virtual.
    public var datasets: Int
    /// The joined file's size (metadata only: the data stays in the shards).
    public var fileBytes: Int
}

/// Joins the shards of a cache into one virtual cache file.
public enum CacheJoin {
    /// Makes `cache` (written under a temporary name, then renamed) from the `shardCount` shards
    /// in `ShardFiles.folder(of: cache)` (nil: the one count found there). A missing or
    /// incomplete shard, or one whose teacher, dataset, cache settings or range does not fit the
    /// others, is refused by name. `expected`, when given, is the identity the pipeline asks for.
    /// An existing cache that is not itself a join is replaced only with `force`.
    @discardableResult
    public static func join(cache: String, shardCount: Int? = nil, force: Bool = false) throws -> JoinSummary {
        try join(cache: cache, shardCount: shardCount, expected: nil, force: force)
    }

    static func join(cache: String, shardCount: Int?, expected: CacheIdentity?, force: Bool) throws -> JoinSummary {
        let folder = ShardFiles.folder(of: cache)
        let present = ShardFiles.present(cache: cache)
        guard let count = try shardCount ?? {
            guard present.count <= 1 else {
                throw ConfigError(file: folder, message: "holds shards of several counts (\(present.keys.sorted().map(String.init).joined(separator: ", "))); pass --shards N")
            }
            return present.keys.first
        }() else { throw ConfigError(file: folder, message: "holds no shards (shard-RRRR-of-NNNN.h5); run kd precompute --shard r/N or under mpirun") }
        let lock = try RunLock(cache + ".lock", target: cache)
        defer { withExtendedLifetime(lock) {} }
        try checkReplaceable(cache, force: force)
        let missing = (0..<count).map { Shard(index: $0, count: count) }.filter { !FileManager.default.fileExists(atPath: ShardFiles.path(of: $0, cache: cache)) }
        if let shard = missing.first {
            throw ConfigError(file: ShardFiles.path(of: shard, cache: cache), message: "is missing" + (missing.count > 1 ? " (with \(missing.count - 1) more of the \(count) shards)" : "")
                              + "; run kd precompute --shard \(shard) to make it")
        }
        let shards = try (0..<count).map { try ShardFile(Shard(index: $0, count: count), cache: cache, expected: expected) }
        try check(shards)
        let total = shards.reduce(0) { $0 + $1.images }
        // Shard 0 gives the tree, the element types and the attributes; the others were read and closed.
        let first = try HDF5File.open(shards[0].path)
        var made = 0
        try HDF5File.write(atomicallyTo: cache) { file in
            for entry in try first.walk() {
                let name = String(entry.path.dropFirst())
                switch entry.kind {
                case .group:
                    guard !name.isEmpty else { continue }
                    let group = try file.createGroup(name)
                    for (key, value) in entry.attributes { try group.setAttribute(key, value) }
                case .dataset:
                    let virtual = try file.createVirtualDataset(name, typeOf: try first.rawDataset(name), shape: try shape(name, shards),
                                                                mappings: try shards.flatMap { try $0.mappings(name, cache: cache, total: total) })
                    for (key, value) in entry.attributes { try virtual.setAttribute(key, value) }
                    made += 1
                }
            }
            for (key, value) in try first.attributes() where !ShardAttributes.perShard.contains(key) { try file.setAttribute(key, value) }
            try file.setAttribute("num_samples", total)
            try file.setAttribute(ShardAttributes.count, count)
            try file.setAttribute("shard_files", shards.map { ShardFiles.relativePath(of: $0.shard, cache: cache) })
            try file.setAttribute("shard_first_images", .ints(shards.map { Int64($0.firstImage) }))
            try file.setAttribute("joined_at", ISO8601DateFormatter().string(from: Date()))
        }
        // Read back through the mappings: every batch of every shard must show as finished.
        _ = try CacheReader(path: cache)
        let bytes = try fileBytes(cache)
        return JoinSummary(path: cache, shards: count, images: total, datasets: made, fileBytes: bytes)
    }

    /// A cache already at `path` may be replaced when it is a join (its shards are the data) or with `force`.
    static func checkReplaceable(_ path: String, force: Bool) throws {
        guard FileManager.default.fileExists(atPath: path), !force else { return }
        let file = try HDF5File.open(path)
        guard try file.hasAttribute(ShardAttributes.count) else {
            throw ConfigError(file: path, message: "exists and is not a join of shards; pass --force to replace it with the join, or move it away")
        }
    }

    /// The shards fit together: the same identity and layout, consecutive ranges covering the dataset.
    private static func check(_ shards: [ShardFile]) throws {
        let first = shards[0]
        let keys = ["teacher_sha256", "dataset_fingerprint", "cache_config", ShardAttributes.datasetImages, "num_views"]
        var next = 0
        for shard in shards {
            for key in keys where shard.attributes[key] != first.attributes[key] {
                throw ConfigError(file: shard.path, message: "is from another run: its \(key) differs from \(first.path)'s")
            }
            guard shard.firstImage == next else {
                throw ConfigError(file: shard.path, message: "starts at image \(shard.firstImage), but the shards before it end at \(next)")
            }
            next += shard.images
        }
        let wanted = Int(first.attributes[ShardAttributes.datasetImages]?.intValue ?? -1)
        guard next == wanted else {
            throw ConfigError(file: shards.last!.path, message: "the shards hold \(next) images, the dataset \(wanted)")
        }
    }

    /// The joined extent of `name`: the shards' with the image axis summed (progress: batches summed).
    private static func shape(_ name: String, _ shards: [ShardFile]) throws -> [Int] {
        let axis = ShardFile.imageAxis(name)
        func others(_ shape: [Int]) -> [Int] { shape.enumerated().map { $0.offset == axis ? 0 : $0.element } }
        let first = try shards[0].shape(name)
        var total = 0
        for shard in shards {
            let shape = try shard.shape(name)
            guard shape.count == first.count, others(shape) == others(first) else {
                throw ConfigError(file: shard.path, message: "\(name) has shape \(shape), unlike \(first) in \(shards[0].path)")
            }
            total += shape[axis]
        }
        var joined = first
        joined[axis] = total
        return joined
    }
}

/// One shard file read for joining (and closed again, so a join of many shards holds no files
/// open): its identity, its range of images, the shape of each dataset.
private struct ShardFile {
    let shard: Shard
    let path: String
    let attributes: [String: AttributeValue]
    let shapes: [String: [Int]]
    let firstImage: Int
    let images: Int
    let views: Int
    let batchSize: Int

    /// Reads shard `shard` of `cache`; a missing, unfinished or misnamed one is refused by name,
    /// as is one whose identity is not `expected` (when given).
    init(_ shard: Shard, cache: String, expected: CacheIdentity?) throws {
        self.shard = shard
        path = ShardFiles.path(of: shard, cache: cache)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError(file: path, message: "is missing (shard \(shard)); run kd precompute --shard \(shard) to make it")
        }
        // A shard still being written is named with its writer.
        let lock = try RunLock(path + ".lock", target: path, shared: true)
        defer { withExtendedLifetime(lock) {} }
        let file = try HDF5File.open(path)
        attributes = Dictionary(try file.attributes().map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        for (key, wanted) in [(ShardAttributes.index, shard.index), (ShardAttributes.count, shard.count)] where attributes[key]?.intValue != Int64(wanted) {
            throw ConfigError(file: path, message: "is not shard \(shard) (its \(key) is \(attributes[key]?.description ?? "missing"))")
        }
        if let expected {
            let differences = expected.differences(in: file)
            guard differences.isEmpty else { throw ConfigError(file: path, message: "is from another run: " + differences.joined(separator: "; ")) }
        }
        let progress = try file.dataset("progress", as: UInt8.self).read()
        let missing = progress.filter { $0 == 0 }.count
        guard missing == 0 else {
            throw ConfigError(file: path, message: "is incomplete: \(missing) of \(progress.count) batches were never written; rerun kd precompute --shard \(shard) (it resumes)")
        }
        var shapes: [String: [Int]] = [:]
        for entry in try file.walk() { if case .dataset(let info) = entry.kind { shapes[String(entry.path.dropFirst())] = info.shape } }
        self.shapes = shapes
        firstImage = Int(attributes[ShardAttributes.firstImage]?.intValue ?? -1)
        images = shapes["labels"]?.first ?? 0
        views = shapes["views/dy"]?.first ?? 0
        let settings = try JSONDecoder().decode(CacheConfig.self, from: Data((attributes["cache_config"]?.stringValue ?? "{}").utf8))
        batchSize = settings.batchSize
    }

    /// The extent of dataset `name` in this shard.
    func shape(_ name: String) throws -> [Int] {
        guard let shape = shapes[name] else { throw ConfigError(file: path, message: "has no dataset \(name), unlike shard 0") }
        return shape
    }

    /// The axis of `name` that counts images: 0 for `labels`, `images`, `skipped` and `progress`
    /// (batches), 1 for the `[V, N, ...]` groups and views.
    static func imageAxis(_ name: String) -> Int { ["labels", "images", "skipped", "progress"].contains(name) ? 0 : 1 }

    /// Where this shard's part of `name` goes in the joined dataset. `progress` holds batches view
    /// by view, so each view's batches are one block; every other dataset is one block.
    func mappings(_ name: String, cache: String, total: Int) throws -> [VirtualMapping] {
        let source = ShardFiles.relativePath(of: shard, cache: cache)
        let shape = try self.shape(name)
        if name == "progress" {
            let mine = (images + batchSize - 1) / batchSize, all = (total + batchSize - 1) / batchSize
            return (0..<views).map { view in
                VirtualMapping(file: source, dataset: name, sourceShape: shape, sourceOffset: [view * mine],
                               offset: [view * all + firstImage / batchSize], count: [mine])
            }
        }
        var offset = shape.map { _ in 0 }
        offset[Self.imageAxis(name)] = firstImage
        return [VirtualMapping(file: source, dataset: name, sourceShape: shape, offset: offset, count: shape)]
    }
}
