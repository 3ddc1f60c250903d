// `kd precompute`: the teacher once over the training set, into the cache.
import ArgumentParser
import Pipeline

/// `kd precompute`: the teacher once over the training set, into the cache.
struct PrecomputeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precompute", abstract: "Run the teacher once over the training set and write runs/<name>/cache.h5.")
    @OptionGroup var config: ConfigOption
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Replace a cache made from another teacher, dataset or cache configuration.") var force = false
    @Flag(help: "Store unreadable images as black and go on (reported on standard error).") var skipBad = false

    func run() throws {
        let (pipeline, text) = try config.load()
        try PrecomputeStage.run(pipeline, configText: text, force: force, skipBad: skipBad, threads: threads.count)
    }
}
