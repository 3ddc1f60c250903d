// Students in a pipeline file: architecture, method, loss terms with their literature defaults
// written in the file, an optional initialisation stage (FitNet hints, activation boundaries),
// seeds, and how many hard labels the student may use.
import Foundation

/// One weighted loss term of a student's main stage.
public struct LossTerm: Codable, Sendable, Equatable {
    /// `ce` (labelled images only), `kd` (soft targets, `temperature`), `at` (attention maps at
    /// `pairs` of student stage and teacher cache layer), `at_grad` (input gradients).
    public var loss: String
    /// The term's weight; for `at` the paper's `beta / 2`, for `kd` the paper's alpha.
    public var weight: Double
    /// With `kd`: the weight at the end of the stage, reached linearly by epoch (FitNet's annealed lambda).
    public var weightEnd: Double?
    public var temperature: Double?
    /// With `at`: `[student stage, teacher attention layer]` pairs.
    public var pairs: [[String]]?

    enum CodingKeys: String, CodingKey { case loss, weight, temperature, pairs, weightEnd = "weight_end" }

    /// The weight in epoch `epoch` of `epochs` (1-based).
    func weight(epoch: Int, of epochs: Int) -> Double {
        guard let end = weightEnd, epochs > 1 else { return weight }
        return weight + (end - weight) * Double(epoch - 1) / Double(epochs - 1)
    }
}

/// A stage before the main one that shapes the student's features.
public struct InitStage: Codable, Sendable, Equatable {
    /// `hint` (FitNet stage 1: the student up to its guided stage plus a regressor, against the
    /// cached teacher features) or `ab` (activation boundaries through connectors).
    public var kind: String
    public var epochs: Int
    /// `[student point, teacher cache layer]` pairs: for `hint` one pair of stages (features), for
    /// `ab` pre-activation points (boundary).
    public var pairs: [[String]]
    /// The AB margin mu.
    public var margin: Double?
    /// Learning rate of the stage (the main stage's when absent).
    public var lr: Double?
}

/// One student of the pipeline.
public struct StudentConfig: Codable, Sendable {
    public var name: String
    /// A label for the report: none, kd, fitnet, at, at-grad, ab.
    public var method: String
    public var arch: String
    public var epochs: Int
    public var batchSize: Int
    public var seeds: [UInt64]
    /// Hard labels the student may use: a count (> 1) or a fraction (<= 1) of the training images,
    /// drawn class-balanced with seed 0; absent: all.
    public var labels: Double?
    public var optimizer: OptimizerConfig
    public var terms: [LossTerm]
    public var initStage: InitStage?

    enum CodingKeys: String, CodingKey {
        case name, method, arch, epochs, seeds, labels, optimizer, terms
        case batchSize = "batch_size", initStage = "init_stage"
    }

    /// The training settings of one seed's main stage, for the shared training loop.
    func training(seed: UInt64) -> TrainingConfig {
        TrainingConfig(arch: arch, epochs: epochs, batchSize: batchSize, seed: seed, optimizer: optimizer, augment: .none)
    }

    func validate(_ file: String, cache: CacheConfig) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: "students.\(name): \(message)") }
        }
        try check(epochs > 0 && batchSize > 0 && !seeds.isEmpty, "epochs, batch_size and seeds must be given and positive")
        try check(!terms.isEmpty, "terms must list at least one loss")
        for term in terms {
            try check(["ce", "kd", "at", "at_grad"].contains(term.loss), "unknown loss '\(term.loss)' (ce, kd, at, at_grad)")
            if term.loss == "kd" { try check((term.temperature ?? 0) > 0, "the kd term needs a positive temperature") }
            if term.loss == "at" {
                try check(!(term.pairs ?? []).isEmpty, "the at term needs pairs of [student stage, teacher layer]")
                for pair in term.pairs ?? [] {
                    try check(pair.count == 2 && (cache.attention?.layers ?? []).contains(pair[1]),
                              "at pair \(pair): the cache has no attention/\(pair.last ?? "?") (add it to cache.attention.layers and run kd precompute)")
                }
            }
            if term.loss == "at_grad" { try check(cache.inputGrad, "at_grad needs the cached input_grad (set cache.input_grad: true and run kd precompute)") }
        }
        if let stage = initStage {
            try check(["hint", "ab"].contains(stage.kind), "init_stage.kind must be hint or ab")
            try check(stage.epochs > 0 && !stage.pairs.isEmpty && stage.pairs.allSatisfy { $0.count == 2 }, "init_stage needs epochs and [student, teacher] pairs")
            for pair in stage.pairs {
                if stage.kind == "hint" {
                    try check(cache.features.contains(pair[1]), "hint pair \(pair): the cache has no features/\(pair[1]) (add it to cache.features and run kd precompute)")
                } else {
                    try check(cache.boundary.contains(pair[1]), "ab pair \(pair): the cache has no boundary/\(pair[1]) (add it to cache.boundary and run kd precompute)")
                }
            }
        }
    }
}
