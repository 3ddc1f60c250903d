// `kd verify-cache`: recompute cached rows and compare.
import ArgumentParser
import Pipeline

/// `kd verify-cache`: recomputes cached rows and compares; exits 1 on a failure.
struct VerifyCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-cache", abstract: "Recompute the teacher on sampled rows and compare every cached group (a foreign cache: every check but that); exit 1 on any failure.")
    @Argument(help: "The cache file.") var cache: String
    @Option(help: "The training images the cache was made from, when they are no longer at its dataset_path.") var data: String?
    @Option(help: "Rows to recompute.") var samples = 64
    @Option(help: "Seed of the row sample.") var seed: UInt64 = 0
    @Flag(help: "Recompute every row of every view instead of a sample (with a progress bar).") var all = false

    func run() throws {
        let checks = try VerifyCache.run(path: cache, data: data, samples: samples, seed: seed, all: all)
        print(VerifyCache.describe(checks, cache: cache))
        if checks.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
