// `kd precompute` and `kd verify-cache`.
import ArgumentParser
import Foundation
import Parallel
import Pipeline

struct PrecomputeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precompute", abstract: "Run the teacher once over the training set and write runs/<name>/cache.h5.")
    @OptionGroup var config: ConfigOption
    @Flag(help: "Replace a cache made from another teacher, dataset or cache configuration.") var force = false
    @Flag(help: "Store unreadable images as black and go on (reported on standard error).") var skipBad = false

    func run() throws {
        let (pipeline, text) = try PipelineConfig.load(config.config)
        try PrecomputeStage.run(pipeline, configText: text, force: force, skipBad: skipBad)
    }
}

struct VerifyCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-cache", abstract: "Recompute the teacher on sampled rows and compare every cached group; exit 1 on any failure.")
    @Argument(help: "The cache file.") var cache: String
    @Option(help: "Rows to recompute.") var samples = 64
    @Option(help: "Seed of the row sample.") var seed: UInt64 = 0
    @Flag(help: "Recompute every row of every view instead of a sample (with a progress bar).") var all = false

    func run() throws {
        let checks = try VerifyCache.run(path: cache, samples: samples, seed: seed, all: all)
        let width = checks.map(\.name.count).max() ?? 10
        for check in checks {
            print((check.passed ? "ok    " : "FAIL  ") + check.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + check.detail)
        }
        let failed = checks.filter { !$0.passed }.count
        print(failed == 0 ? "\(cache): all \(checks.count) checks passed" : "\(cache): \(failed) of \(checks.count) checks FAILED")
        if failed > 0 { throw ExitCode(1) }
    }
}

struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill", abstract: "Train the pipeline's students from the cache and print the result table.")
    @OptionGroup var config: ConfigOption
    @Option(help: "Train only this student.") var student: String?
    @Option(help: "Train only this seed.") var seed: UInt64?
    @Option(help: "Compute threads per student (the machine's cores by default); the same seed and count give the same weights.")
    var threads: Int?
    @Flag(help: "Compute the teacher's targets live instead of reading the cache (runs go to runs/<name>/online/).")
    var onlineTeacher = false
    @Flag(help: "Train the chosen students from scratch instead of resuming or reusing finished runs.") var restart = false

    func run() throws {
        let (pipeline, text) = try PipelineConfig.load(config.config)
        if let threads { ComputeThreads.count = max(1, threads) }
        var options = DistillOptions()
        (options.student, options.seed, options.onlineTeacher, options.restart) = (student, seed, onlineTeacher, restart)
        try StudentStage.run(pipeline, configText: text, options: options)
    }
}
