// `kd precompute`: the teacher once over the training set, into the cache; alone, as one shard
// (`--shard r/N`), or as one rank of `mpirun -np N`.
import ArgumentParser
import Cluster
import Pipeline

/// `kd precompute`: the teacher once over the training set, into the cache.
struct PrecomputeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precompute", abstract: "Run the teacher once over the training set and write runs/<name>/cache.h5.",
        discussion: """
            Under mpirun (or srun), rank r of N computes shard r of N into runs/<name>/cache.shards/ and \
            rank 0 then joins the shards into cache.h5 (virtual datasets over the shards). With --shard r/N \
            only that shard is computed, for schedulers without MPI; kd cache join makes cache.h5 afterwards.
            """)
    @OptionGroup var config: ConfigOption
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Replace a cache made from another teacher, dataset or cache configuration.") var force = false
    @Flag(help: "Store unreadable images as black and go on (reported on standard error).") var skipBad = false
    @Option(help: "Compute only shard r of N (r/N, 0-based), e.g. 3/16 or $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.")
    var shard: String?

    func run() throws {
        let (pipeline, text) = try config.load()
        if let shard {
            try PrecomputeStage.run(pipeline, configText: text, force: force, skipBad: skipBad, threads: threads.count,
                                    shard: try Shard(parsing: shard))
        } else if let world = try MPIWorld.joinIfLaunched() {
            // The ranks on one host share its cores.
            let perRank = threads.threads ?? max(1, defaultThreads / MPIWorld.localSize)
            if let joined = try ShardedPrecompute.run(pipeline, configText: text, world: world, force: force, skipBad: skipBad, threads: perRank) {
                print("precompute: joined \(joined.shards) shards into \(joined.path) (\(joined.datasets) virtual datasets, \(joined.fileBytes) bytes)")
            }
        } else {
            try PrecomputeStage.run(pipeline, configText: text, force: force, skipBad: skipBad, threads: threads.count)
        }
    }
}
