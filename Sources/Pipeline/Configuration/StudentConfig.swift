// Students in a pipeline file: architecture, the weighted loss terms of the main stage (each a
// method type, with its paper's defaults written in the file), an optional initialisation stage,
// seeds, and how many hard labels the student may use.
import Foundation

/// One student of the pipeline.
public struct StudentConfig: Codable, Sendable {
    /// Unique in the pipeline; names the student's run folders.
    public var name: String
    /// The method's name in the report and chart (`none`, `kd`, `fitnet`, ...): a label for
    /// people. What the student does is its `terms` and `init_stage`.
    public var method: String
    /// A model name from models.py (`resnet8x4`, `mnist_student`, ...).
    public var arch: String
    /// Epochs of the main stage.
    public var epochs: Int
    /// Images per batch.
    public var batchSize: Int
    /// One run per seed; the report aggregates over them.
    public var seeds: [UInt64]
    /// Hard labels the student may use: a count (> 1) or a fraction (<= 1) of the training images,
    /// drawn class-balanced with seed 0; absent: all.
    public var labels: Double?
    /// SGD and its schedule (an initialisation stage may set its own learning rate).
    public var optimizer: OptimizerConfig
    /// The main stage's loss: the weighted sum of these terms.
    public var terms: [WeightedTerm]
    /// A stage trained before the main one (FitNet hints, activation boundaries), or nil.
    public var initStage: InitStageEntry?
    /// Under `mpirun`, train each seed on every rank at once, each taking its slice of every
    /// batch (`kd distill --data-parallel` does so for every student that can). Alone it changes nothing.
    public var dataParallel: Bool?

    enum CodingKeys: String, CodingKey {
        case name, method, arch, epochs, seeds, labels, optimizer, terms
        case batchSize = "batch_size", initStage = "init_stage", dataParallel = "data_parallel"
    }

    /// Whether the main stage reads the teacher: then the student trains on every image (with
    /// cross-entropy on its labelled ones), otherwise on its labelled images alone.
    public var usesTeacher: Bool { terms.contains { $0.term.usesTeacher } }

    /// The training settings of one seed's main stage, for the shared training loop.
    func training(seed: UInt64) -> TrainingConfig {
        TrainingConfig(arch: arch, epochs: epochs, batchSize: batchSize, seed: seed, optimizer: optimizer, augment: .none)
    }

    /// Why splitting this student's batches over processes would change what it learns, or nil
    /// when N processes train the weights one would. `prepared` is the student bound to a cache.
    func dataParallelObstacle(_ prepared: PreparedStudent) -> String? {
        for entry in terms {
            if let reason = type(of: entry.term).dataParallelObstacle { return "the \(type(of: entry.term).name) term \(reason)" }
        }
        if let entry = initStage, let reason = type(of: entry.stage).dataParallelObstacle { return "the \(type(of: entry.stage).kind) stage \(reason)" }
        if prepared.terms.contains(where: { $0.prepared.differentiatesInput }) {
            return "a term differentiates the student twice, and synchronised batch norm has a first derivative only"
        }
        return nil
    }

    /// Refuses `data_parallel: true` when a split batch would change what the student learns.
    func validateDataParallel(_ prepared: PreparedStudent, file: String) throws {
        guard dataParallel == true, let obstacle = dataParallelObstacle(prepared) else { return }
        throw ConfigError(file: file, message: "students.\(name): data_parallel: \(obstacle)")
    }

    func validate(_ file: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: "students.\(name): \(message)") }
        }
        try check(epochs > 0 && batchSize > 0 && !seeds.isEmpty, "epochs, batch_size and seeds must be given and positive")
        try check(!terms.isEmpty, "terms must list at least one loss")
        try check(initStage.map { $0.epochs > 0 } ?? true, "init_stage.epochs must be positive")
        try check(labels.map { $0 > 0 } ?? true, "labels must be positive (a count, or a fraction up to 1)")
    }
}
