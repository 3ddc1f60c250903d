// `mpirun -np N kd precompute`: rank r computes shard r of N (its own file, resumable alone);
// once every rank has finished, rank 0 joins the shards into the virtual cache.h5. A rank that
// fails makes every rank stop with an error (no rank is left waiting).
import Cluster
import Datasets
import Foundation
import Hashing

/// The cache computed by the ranks of an MPI launch.
public enum ShardedPrecompute {
    /// Computes shard `world.rank` of `world.size` with `threads` threads, waits for all, joins on
    /// rank 0 (`CacheJoin`), and returns the join's summary there (nil on other ranks, and when the
    /// whole cache was already complete). Finalises MPI before returning or throwing.
    @discardableResult
    public static func run(_ config: PipelineConfig, configText: String, world: MPIWorld, force: Bool = false, skipBad: Bool = false,
                           threads: Int) throws -> JoinSummary? {
        defer { try? world.finalize() }
        let cache = RunLayout(config).cache
        var failure: Error?, reused = false
        do {
            let summary = try PrecomputeStage.run(config, configText: configText, force: force, skipBad: skipBad, threads: threads,
                                                  shard: Shard(index: world.rank, count: world.size))
            reused = summary.path == cache
        } catch {
            failure = error
        }
        let failed = try world.sum(failure == nil ? 0 : 1), wholeReused = try world.sum(reused ? 1 : 0) == world.size
        if let failure { throw failure }
        guard failed == 0 else { throw ClusterFailure(message: "\(failed) of \(world.size) ranks failed (their errors above); rerun to resume every shard") }
        if wholeReused { return nil }
        var summary: JoinSummary?
        if world.rank == 0 {
            do {
                summary = try CacheJoin.join(cache: cache, shardCount: world.size, expected: nil, force: force)
            } catch {
                failure = error
            }
        }
        let joinError = try world.broadcast(failure.map { "\($0)" } ?? "", from: 0)
        if let failure { throw failure }
        guard joinError.isEmpty else { throw ClusterFailure(message: "rank 0 could not join the shards: \(joinError)") }
        return summary
    }

    /// The identity `config` asks its cache to have (teacher SHA-256, dataset fingerprint, cache
    /// settings), for checking shards joined apart from their precompute.
    static func identity(of config: PipelineConfig) throws -> CacheIdentity {
        let checkpoint = RunLayout(config).teacherCheckpoint(config.cacheSettings.teacherCheckpoint)
        // Unreadable images count as black, as in a shard that skipped them; readable ones are unaffected.
        return CacheIdentity(teacherSHA256: try SHA256.file(checkpoint),
                             datasetFingerprint: try datasetFingerprint(try openImageSource(config.data.train), skipBad: true),
                             cacheConfig: config.cacheSettings.canonical)
    }
}

extension CacheJoin {
    /// Joins the shards of `config`'s cache, checking each against the teacher, dataset and cache
    /// settings the pipeline names.
    @discardableResult
    public static func join(_ config: PipelineConfig, shardCount: Int? = nil, force: Bool = false) throws -> JoinSummary {
        try join(cache: RunLayout(config).cache, shardCount: shardCount, expected: try ShardedPrecompute.identity(of: config), force: force)
    }
}

/// A failure on another rank, reported by this one.
public struct ClusterFailure: Error, CustomStringConvertible {
    /// What happened, in words.
    public let message: String
    public var description: String { message }
}
