// `kd cache join` and `kd cache materialize`: the cache of shards made by any scheduler, and a
// joined cache copied into one ordinary file.
import ArgumentParser
import Pipeline

/// `kd cache`: operations on cache files.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Join shards into a cache, or copy a joined cache into one file.",
        subcommands: [Join.self, Materialize.self])

    /// `kd cache join`: runs/<name>/cache.h5 over the finished shards in runs/<name>/cache.shards/.
    struct Join: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make runs/<name>/cache.h5 from the finished shards in runs/<name>/cache.shards/ (virtual datasets; no data copied).")
        @OptionGroup var config: ConfigOption
        @Option(help: "The shard count N when the folder holds shards of several counts.") var shards: Int?
        @Flag(help: "Replace an existing cache.h5 that is not a join.") var force = false

        func run() throws {
            let (pipeline, _) = try config.load()
            let joined = try CacheJoin.join(pipeline, shardCount: shards, force: force)
            print("cache join: \(joined.shards) shards, \(joined.images) images -> \(joined.path) (\(joined.datasets) virtual datasets, \(joined.fileBytes) bytes)")
        }
    }

    /// `kd cache materialize IN OUT`: an ordinary copy of a (virtual) cache.
    struct Materialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a cache (a joined one reads through its shards) into one ordinary HDF5 file, with a progress bar.")
        @Argument(help: "The cache to copy.") var input: String
        @Argument(help: "The file to write.") var output: String

        func run() throws {
            let bytes = try CacheMaterialize.run(input: input, output: output)
            print("cache materialize: \(bytes) bytes of data -> \(output)")
        }
    }
}
