// Pipeline configurations: `pipelines/*.yaml` decoded into typed values with the defaults of the
// literature written in the file, validated before any work starts.
import Foundation
import HDF5
import Losses
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
    /// What precompute caches; nil: logits only, one view.
    public var cache: CacheConfig?
    /// The students distillation trains.
    public var students: [StudentConfig]?

    /// The folder everything of this run is written to.
    public var runDirectory: String { "runs/\(name)" }
    public var teacherDirectory: String { runDirectory + "/teacher" }
    public var cachePath: String { runDirectory + "/cache.h5" }
    /// The cache settings, with defaults when the section is absent.
    public var cacheSettings: CacheConfig { cache ?? CacheConfig() }

    /// Reads and validates a pipeline file. `text` is kept as written, for provenance.
    public static func load(_ path: String) throws -> (config: PipelineConfig, text: String) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "cannot read the pipeline file")
        }
        let config: PipelineConfig
        do {
            config = try decodeStrictly(PipelineConfig.self, from: text)
        } catch let error as UnknownKeyError {
            throw ConfigError(file: path, message: "\(error)")
        } catch let error as YamlError {
            throw ConfigError(file: path, message: "not valid YAML: \(error)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigError(file: path, message: "missing '\(keyPath(context.codingPath, key))'\(context.debugDescription.dropFirst("missing".count))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw ConfigError(file: path, message: "'\(keyPath(context.codingPath, nil))': \(context.debugDescription)")
        }
        try config.validate(path)
        return (config, text)
    }

    private static func keyPath(_ path: [CodingKey], _ last: CodingKey?) -> String {
        (path + (last.map { [$0] } ?? [])).reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : text + "." + key.stringValue
        }
    }

    func validate(_ file: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: message) }
        }
        try check(!name.isEmpty && !name.contains("/"), "name must be a non-empty word (it names runs/<name>/)")
        try check(data.mean.count == data.std.count && !data.mean.isEmpty, "data.mean and data.std need one value per channel")
        try check(data.std.allSatisfy { $0 > 0 }, "data.std values must be positive")
        try teacher.validate(file, "teacher")
        try cacheSettings.validate(file)
        let names = (students ?? []).map(\.name)
        try check(Set(names).count == names.count, "student names must be unique")
        for student in students ?? [] { try student.validate(file) }
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

/// A choice among names in a pipeline file; an unknown name is an error listing the known ones.
protocol NamedChoice: RawRepresentable<String>, CaseIterable, Codable, Sendable {}

extension NamedChoice {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription:
                "unknown value '\(name)'; known: \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = value
    }
}

extension AttentionMode: NamedChoice {}

/// How the learning rate moves: `cosine` to 0 at the end (per iteration), `constant`, or
/// `multistep` (times `gamma` at each of `milestones`).
public enum ScheduleKind: String, NamedChoice { case cosine, constant, multistep }

/// SGD and its schedule.
public struct OptimizerConfig: Codable, Sendable {
    public var lr: Double
    public var momentum: Double
    public var nesterov: Bool
    public var weightDecay: Double
    public var schedule: ScheduleKind
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
        try check(augment.cropPadding >= 0, "augment.crop_padding must not be negative")
    }
}

/// Attention maps: `F(A)` over channels per position, then L2-normalised per image.
public struct AttentionConfig: Codable, Sendable, Equatable {
    /// Stage names of the teacher (`conv1`, `layer2`, ...).
    public var layers: [String]
    /// `sum_p`: sum_c |A_c|^p (the paper's default, p = 2); `sum`: sum_c |A_c|; `max_p`: max_c |A_c|^p.
    public var mode: AttentionMode
    public var p: Double

    public init(layers: [String], mode: AttentionMode = .sumP, p: Double = 2) {
        self.layers = layers
        self.mode = mode
        self.p = p
    }

    enum CodingKeys: String, CodingKey { case layers, mode, p }

    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(layers: try values.decode([String].self, forKey: .layers),
                  mode: try values.decodeIfPresent(AttentionMode.self, forKey: .mode) ?? .sumP,
                  p: try values.decodeIfPresent(Double.self, forKey: .p) ?? 2)
    }
}

/// How hint features are stored.
public enum FeatureType: String, NamedChoice {
    case float16, float32

    var elementType: ElementType { self == .float16 ? .float16 : .float32 }
}

/// The teacher checkpoint a cache is made from: the pipeline teacher's `last.h5` or `best.h5`, or
/// a file given by path.
public enum TeacherCheckpoint: Codable, Sendable, Equatable {
    case last, best
    case path(String)

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = text == "last" ? .last : text == "best" ? .best : .path(text)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .last: try container.encode("last")
        case .best: try container.encode("best")
        case .path(let path): try container.encode(path)
        }
    }
}

/// What precompute stores for every image and view (the cache contract in ../shared/DESIGN.md).
public struct CacheConfig: Codable, Sendable, Equatable {
    /// Which teacher checkpoint: `last` (the end of training), `best` (best test epoch), or a path.
    public var teacherCheckpoint: TeacherCheckpoint = .last
    /// Views per image: view 0 is the image itself, the others random crops/flips under `augment`.
    public var views: Int = 1
    public var augment: AugmentConfig = .none
    public var seed: UInt64 = 0
    /// Images per teacher batch.
    public var batchSize: Int = 256
    /// Images per HDF5 chunk (see BENCHMARKS.md for the measurement behind the default).
    public var chunkRows: Int = 16
    /// Keep only the k largest logits per image (values, classes and the log-partition); 0 keeps all.
    public var topK: Int = 0
    /// Stages whose outputs are cached as `features/<stage>` (FitNet hints).
    public var features: [String] = []
    public var featuresDtype: FeatureType = .float16
    public var attention: AttentionConfig?
    /// Pre-ReLU points whose signs are cached bit-packed as `boundary/<name>`.
    public var boundary: [String] = []
    /// Cache the teacher's input gradient d(cross-entropy against its own predicted class)/d(input).
    public var inputGrad: Bool = false
    /// Cache the teacher's penultimate embedding (CRD).
    public var embedding: Bool = false

    public init() {}

    enum CodingKeys: String, CodingKey {
        case views, augment, seed, features, attention, boundary, embedding
        case teacherCheckpoint = "teacher_checkpoint", batchSize = "batch_size", chunkRows = "chunk_rows", topK = "top_k"
        case featuresDtype = "features_dtype", inputGrad = "input_grad"
    }

    public init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        teacherCheckpoint = try values.decodeIfPresent(TeacherCheckpoint.self, forKey: .teacherCheckpoint) ?? .last
        views = try values.decodeIfPresent(Int.self, forKey: .views) ?? 1
        augment = try values.decodeIfPresent(AugmentConfig.self, forKey: .augment) ?? .none
        seed = try values.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        batchSize = try values.decodeIfPresent(Int.self, forKey: .batchSize) ?? 256
        chunkRows = try values.decodeIfPresent(Int.self, forKey: .chunkRows) ?? 16
        topK = try values.decodeIfPresent(Int.self, forKey: .topK) ?? 0
        features = try values.decodeIfPresent([String].self, forKey: .features) ?? []
        featuresDtype = try values.decodeIfPresent(FeatureType.self, forKey: .featuresDtype) ?? .float16
        attention = try values.decodeIfPresent(AttentionConfig.self, forKey: .attention)
        boundary = try values.decodeIfPresent([String].self, forKey: .boundary) ?? []
        inputGrad = try values.decodeIfPresent(Bool.self, forKey: .inputGrad) ?? false
        embedding = try values.decodeIfPresent(Bool.self, forKey: .embedding) ?? false
    }

    func validate(_ file: String) throws {
        func check(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(file: file, message: "cache.\(message)") }
        }
        try check(views >= 1, "views must be at least 1")
        try check(views == 1 || augment != .none, "views > 1 needs an augment (crop_padding or flip): otherwise every view is the same image")
        try check(batchSize > 0 && chunkRows > 0, "batch_size and chunk_rows must be positive")
        try check(topK >= 0, "top_k must not be negative")
        if let attention { try check(attention.p > 0, "attention.p must be positive") }
    }

    /// The settings as canonical JSON: two caches are interchangeable when this, the teacher and
    /// the dataset agree.
    var canonical: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
