// Pipeline configurations: `pipelines/*.yaml` decoded into typed values with the defaults of the
// literature written in the file, validated before any work starts.
import Foundation
import Losses
import Yams

/// A configuration that cannot be used: which file and what is wrong.
public struct ConfigError: Error, CustomStringConvertible {
    /// The file (or option) the problem is in.
    public let file: String
    /// What is wrong and, where it can say, how to fix it.
    public let message: String
    public var description: String { "\(file): \(message)" }
}

/// One whole run: dataset, teacher, and (with later stages) cache and students.
public struct PipelineConfig: Codable, Sendable {
    /// The run's name; its files go under `runs/<name>/`.
    public var name: String
    /// The training and test images and their normalisation.
    public var data: DataConfig
    /// How the teacher is trained; absent when the teacher is external (`cache.external`).
    public var teacher: TrainingConfig?
    /// What precompute caches; nil: logits only, one view.
    public var cache: CacheConfig?
    /// The students distillation trains.
    public var students: [StudentConfig]?

    /// Every path this run writes, under `runs/<name>/`.
    public var layout: RunLayout { RunLayout(self) }
    /// The cache settings, with defaults when the section is absent.
    public var cacheSettings: CacheConfig { cache ?? CacheConfig() }
    /// Where the teacher comes from: trained by kd as `teacher:` says, or external, known only by
    /// the cache `cache.external` names (`validate` makes sure exactly one of the two is given).
    public var teacherSource: TeacherSource {
        if let path = cache?.external { return .external(cache: path) }
        return .trained(teacher!)
    }

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
        switch (teacher, cache?.external) {
        case (let teacher?, nil) where teacher.isArchitectureOnly:
            guard case .path = cacheSettings.teacherCheckpoint else {
                throw ConfigError(file: file, message: "teacher has only arch: give epochs, batch_size, seed and optimizer "
                                  + "for kd to train it, or name a trained checkpoint in cache.teacher_checkpoint")
            }
        case (let teacher?, nil): try teacher.validate(file, "teacher")
        case (nil, nil): throw ConfigError(file: file, message: "missing 'teacher' (how kd trains the teacher), or a foreign teacher's cache in cache.external")
        case (_?, _?): throw ConfigError(file: file, message: "teacher: the teacher of cache.external is external, kd trains none; remove the teacher: section")
        case (nil, _?): break
        }
        try cacheSettings.validate(file)
        let names = (students ?? []).map(\.name)
        try check(Set(names).count == names.count, "student names must be unique")
        for student in students ?? [] { try student.validate(file) }
    }
}

/// Where a pipeline's teacher comes from.
public enum TeacherSource: Sendable {
    /// Trained by `kd teacher` with these settings, its cache written by `kd precompute`.
    case trained(TrainingConfig)
    /// Known only by its cache at `cache`, written by another program (scripts/precompute_pytorch.py).
    case external(cache: String)
}

/// Where the images are and how pixels become network inputs.
public struct DataConfig: Codable, Sendable {
    /// Training images: a packed HDF5 file or a PNG folder.
    public var train: String
    /// Test images, the same kinds.
    public var test: String
    /// Per-channel mean and standard deviation of pixels scaled to [0, 1]: inputs are `(p/255 - mean) / std`.
    public var mean: [Double]
    /// Per-channel standard deviation (> 0), as many values as `mean`.
    public var std: [Double]

    /// The input normalisation `mean` and `std` describe.
    var normalization: Normalization { Normalization(mean: mean, std: std) }
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

