// Pipeline configurations: `pipelines/*.yaml` decoded into typed values with the defaults of the
// literature written in the file, validated before any work starts.
import Foundation
import Optimizers
import Yams

/// A configuration that cannot be used: which file and what is wrong.
public struct ConfigError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
}

/// One whole run: dataset, teacher, and (with later stages) cache and students.
public struct PipelineConfig: Codable, Sendable {
    /// The run's name; its files go under `runs/<name>/`.
    public var name: String
    public var data: DataConfig
    public var teacher: TrainingConfig

    /// The folder everything of this run is written to.
    public var runDirectory: String { "runs/\(name)" }
    public var teacherDirectory: String { runDirectory + "/teacher" }

    /// Reads and validates a pipeline file. `text` is kept as written, for provenance.
    public static func load(_ path: String) throws -> (config: PipelineConfig, text: String) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "cannot read the pipeline file")
        }
        let config: PipelineConfig
        do {
            config = try YAMLDecoder().decode(PipelineConfig.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigError(file: path, message: "missing '\(keyPath(context.codingPath, key))'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw ConfigError(file: path, message: "'\(keyPath(context.codingPath, nil))': \(context.debugDescription)")
        } catch {
            throw ConfigError(file: path, message: "not valid YAML: \(error)")
        }
        try config.validate(path)
        return (config, text)
    }

    private static func keyPath(_ path: [CodingKey], _ last: CodingKey?) -> String {
        (path + (last.map { [$0] } ?? [])).map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    func validate(_ file: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: message) }
        }
        try check(!name.isEmpty && !name.contains("/"), "name must be a non-empty word (it names runs/<name>/)")
        try check(data.mean.count == data.std.count && !data.mean.isEmpty, "data.mean and data.std need one value per channel")
        try check(data.std.allSatisfy { $0 > 0 }, "data.std values must be positive")
        try teacher.validate(file, "teacher")
    }
}

/// Where the images are and how pixels become network inputs.
public struct DataConfig: Codable, Sendable {
    /// Training images: a packed HDF5 file or a PNG folder.
    public var train: String
    /// Test images, the same kinds.
    public var test: String
    /// Per-channel mean and standard deviation of pixels scaled to [0, 1]: inputs are `(p/255 - mean) / std`.
    public var mean: [Double]
    public var std: [Double]
}

/// Random augmentation of training images.
public struct AugmentConfig: Codable, Sendable, Equatable {
    /// Pixels of zero padding for a random crop back to the original size (0: no crop).
    public var cropPadding: Int
    /// Random horizontal flips.
    public var flip: Bool

    public static let none = AugmentConfig(cropPadding: 0, flip: false)

    enum CodingKeys: String, CodingKey { case cropPadding = "crop_padding", flip }
}

/// SGD and its schedule.
public struct OptimizerConfig: Codable, Sendable {
    public var lr: Double
    public var momentum: Double
    public var nesterov: Bool
    public var weightDecay: Double
    /// `cosine`, `constant`, or `multistep`.
    public var schedule: String
    /// Epochs at which `multistep` multiplies the rate by `gamma`.
    public var milestones: [Int]?
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
        case "multistep": .multiStep(milestones: milestones ?? [], gamma: gamma ?? 0.1)
        case "constant": .constant
        default: .cosine
        }
    }
}

/// How one network is trained: architecture, epochs, batches, optimiser, augmentation.
public struct TrainingConfig: Codable, Sendable {
    /// A model name from models.py (`mnist_teacher`, `resnet32x4`, `wrn_40_2`, ...).
    public var arch: String
    public var epochs: Int
    public var batchSize: Int
    public var seed: UInt64
    public var optimizer: OptimizerConfig
    public var augment: AugmentConfig

    enum CodingKeys: String, CodingKey { case arch, epochs, seed, optimizer, augment, batchSize = "batch_size" }

    func validate(_ file: String, _ section: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: "\(section).\(message)") }
        }
        try check(epochs > 0, "epochs must be positive")
        try check(batchSize > 0, "batch_size must be positive")
        try check(optimizer.lr > 0, "optimizer.lr must be positive")
        try check(["cosine", "constant", "multistep"].contains(optimizer.schedule), "optimizer.schedule must be cosine, constant or multistep")
        try check(augment.cropPadding >= 0, "augment.crop_padding must not be negative")
    }
}
