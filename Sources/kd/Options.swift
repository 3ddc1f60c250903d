// Options several commands share.
import ArgumentParser
import Foundation
import Pipeline

/// The pipeline file every stage reads.
struct ConfigOption: ParsableArguments {
    @Option(help: "The pipeline file.") var config = "pipelines/fashion-mnist.yaml"

    /// The pipeline, decoded and checked, and its text as written.
    func load() throws -> (PipelineConfig, String) { try PipelineConfig.load(config) }
}

/// How many threads the kernels use.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Compute threads (the machine's cores by default); the same seed and count give the same weights.")
    var threads: Int?

    /// The thread count: `--threads`, or the machine's cores.
    var count: Int { max(1, threads ?? defaultThreads) }
}

/// What a checkpoint may not say about itself (a safetensors file without metadata).
struct CheckpointFactsOptions: ParsableArguments {
    @Option(help: "The zoo's architecture (when the checkpoint does not name it).") var arch: String?
    @Option(help: "Class names in label order, comma-separated (when the checkpoint does not list them).") var classes: String?
    @Option(help: "Per-channel input mean of pixels in [0, 1], comma-separated.") var mean: String?
    @Option(help: "Per-channel input standard deviation, comma-separated.") var std: String?

    /// The values given, for whatever the checkpoint lacks.
    func fallback() throws -> CheckpointFallback {
        func numbers(_ text: String?, _ option: String) throws -> [Double]? {
            guard let text else { return nil }
            let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { throw ValidationError("--\(option) takes comma-separated numbers, not '\(text)'") }
            return values.map { $0! }
        }
        return CheckpointFallback(arch: arch, classes: classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                  mean: try numbers(mean, "mean"), std: try numbers(std, "std"))
    }
}
