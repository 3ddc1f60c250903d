// How one network is trained: architecture, epochs, batches, optimiser and schedule, augmentation.
import Foundation
import Optimizers

/// Random augmentation of training images.
public struct AugmentConfig: Codable, Sendable, Equatable {
    /// Pixels of zero padding for a random crop back to the original size (0: no crop).
    public var cropPadding: Int
    /// Random horizontal flips.
    public var flip: Bool

    /// No crop and no flip.
    public static let none = AugmentConfig(cropPadding: 0, flip: false)

    enum CodingKeys: String, CodingKey { case cropPadding = "crop_padding", flip }
}

/// How the learning rate moves: `cosine` to 0 at the end (per iteration), `constant`, or
/// `multistep` (times `gamma` at each of `milestones`).
public enum ScheduleKind: String, NamedChoice { case cosine, constant, multistep }

/// SGD and its schedule.
public struct OptimizerConfig: Codable, Sendable {
    /// The base learning rate.
    public var lr: Double
    /// SGD momentum.
    public var momentum: Double
    /// Nesterov momentum instead of heavy-ball.
    public var nesterov: Bool
    /// L2 weight decay.
    public var weightDecay: Double
    /// How the learning rate moves over the run.
    public var schedule: ScheduleKind
    /// Epochs at which `multistep` multiplies the rate by `gamma`.
    public var milestones: [Int]?
    /// The factor `multistep` applies at each milestone (0.1 when absent).
    public var gamma: Double?
    /// Epochs of linear warm-up.
    public var warmupEpochs: Double?
    /// Global gradient-norm clipping, or nil for none.
    public var clipNorm: Double?
    /// Whether batch-norm weights and biases get weight decay too.
    public var decayNormsAndBiases: Bool?

    enum CodingKeys: String, CodingKey {
        case lr, momentum, nesterov, schedule, milestones, gamma
        case weightDecay = "weight_decay", warmupEpochs = "warmup_epochs", clipNorm = "clip_norm"
        case decayNormsAndBiases = "decay_norms_and_biases"
    }

    /// The schedule as a value.
    public var scheduleValue: Schedule {
        switch schedule {
        case .multistep: .multiStep(milestones: milestones ?? [], gamma: gamma ?? 0.1)
        case .constant: .constant
        case .cosine: .cosine
        }
    }
}

/// How one network is trained: architecture, epochs, batches, optimiser, augmentation.
public struct TrainingConfig: Codable, Sendable {
    /// A model name from models.py (`mnist_teacher`, `resnet32x4`, `wrn_40_2`, ...).
    public var arch: String
    /// Epochs to train.
    public var epochs: Int
    /// Images per batch.
    public var batchSize: Int
    /// Seeds the batch order and the augmentation (and, for the teacher, its initial weights).
    public var seed: UInt64
    /// SGD and its schedule.
    public var optimizer: OptimizerConfig
    /// Random crops and flips of the training images.
    public var augment: AugmentConfig

    enum CodingKeys: String, CodingKey { case arch, epochs, seed, optimizer, augment, batchSize = "batch_size" }

    /// Every setting given.
    init(arch: String, epochs: Int, batchSize: Int, seed: UInt64, optimizer: OptimizerConfig, augment: AugmentConfig) {
        (self.arch, self.epochs, self.batchSize, self.seed, self.optimizer, self.augment) = (arch, epochs, batchSize, seed, optimizer, augment)
    }

    /// Only `arch` (a teacher kd does not train, given by `cache.teacher_checkpoint`), or every
    /// setting but `augment`: a section that gives some of them lacks the others by name.
    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        arch = try values.decode(String.self, forKey: .arch)
        augment = try values.decodeIfPresent(AugmentConfig.self, forKey: .augment) ?? .none
        if values.allKeys.allSatisfy({ $0 == .arch }) {
            (epochs, batchSize, seed, isArchitectureOnly) = (0, 0, 0, true)
            optimizer = OptimizerConfig(lr: 0, momentum: 0, nesterov: false, weightDecay: 0, schedule: .constant)
            return
        }
        epochs = try values.decode(Int.self, forKey: .epochs)
        batchSize = try values.decode(Int.self, forKey: .batchSize)
        seed = try values.decode(UInt64.self, forKey: .seed)
        optimizer = try values.decode(OptimizerConfig.self, forKey: .optimizer)
    }

    /// A section with the architecture alone: nothing for kd to train.
    public private(set) var isArchitectureOnly = false

    func validate(_ file: String, _ section: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: "\(section).\(message)") }
        }
        try check(epochs > 0, "epochs must be positive")
        try check(batchSize > 0, "batch_size must be positive")
        try check(optimizer.lr > 0, "optimizer.lr must be positive")
        try check(augment.cropPadding >= 0, "augment.crop_padding must not be negative")
    }
}

