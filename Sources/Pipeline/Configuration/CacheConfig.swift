// What precompute caches: the `cache:` section of a pipeline file.
import Foundation
import HDF5
import Losses

/// Attention maps: `F(A)` over channels per position, then L2-normalised per image.
public struct AttentionConfig: Codable, Sendable, Equatable {
    /// Named layers of the teacher (`conv1`, `layer2`, ...).
    public var layers: [String]
    /// `sum_p`: sum_c |A_c|^p (the paper's default, p = 2); `sum`: sum_c |A_c|; `max_p`: max_c |A_c|^p.
    public var mode: AttentionMode
    /// The exponent of `sum_p` and `max_p` (> 0).
    public var p: Double

    /// Maps of `layers`, by default `sum_p` with p = 2.
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
    /// float16 (half the bytes, 3 significant digits) or float32.
    case float16, float32

    var elementType: ElementType { self == .float16 ? .float16 : .float32 }
}

/// The teacher checkpoint a cache is made from: the pipeline teacher's `last.h5` or `best.h5`, or
/// a file given by path.
public enum TeacherCheckpoint: Codable, Sendable, Equatable {
    /// The pipeline teacher's `last.h5` or `best.h5`.
    case last, best
    /// A checkpoint file given by path.
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
    /// The random crops and flips of views 1 and up.
    public var augment: AugmentConfig = .none
    /// The seed the views' crops and flips are drawn from.
    public var seed: UInt64 = 0
    /// Images per teacher batch.
    public var batchSize: Int = 256
    /// Images per HDF5 chunk (see BENCHMARKS.md for the measurement behind the default).
    public var chunkRows: Int = 16
    /// Keep only the k largest logits per image (values, classes and the log-partition); 0 keeps all.
    public var topK: Int = 0
    /// Named layers of the teacher whose outputs are cached as `features/<layer>` (FitNet hints).
    public var features: [String] = []
    /// How `features/<layer>` is stored: float16 (the default) or float32.
    public var featuresDtype: FeatureType = .float16
    /// The attention maps to cache; nil: none.
    public var attention: AttentionConfig?
    /// Pre-ReLU points whose signs are cached bit-packed as `boundary/<name>`.
    public var boundary: [String] = []
    /// Cache the teacher's input gradient d(cross-entropy against its own predicted class)/d(input).
    public var inputGrad: Bool = false
    /// Cache the teacher's penultimate embedding (CRD).
    public var embedding: Bool = false
    /// A cache written by another program (scripts/precompute_pytorch.py) for a teacher kd does
    /// not have: its path. Its settings are the ones it records, so no other key may be given.
    public var external: String?

    /// The defaults: the last checkpoint, logits only, one view.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case views, augment, seed, features, attention, boundary, embedding, external
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
        external = try values.decodeIfPresent(String.self, forKey: .external)
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
        var others = self
        others.external = nil
        try check(external == nil || others == CacheConfig(),
                  "external: a foreign cache brings its own settings (its cache_config attribute); remove the other cache keys")
    }

    /// The settings as canonical JSON: two caches are interchangeable when this, the teacher and
    /// the dataset agree.
    var canonical: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

extension CacheConfig {
    /// The settings a cache file records in its `cache_config` attribute; a missing attribute or
    /// one that is not kd's settings as JSON is an error naming the file.
    init(recordedIn file: HDF5File) throws {
        let text = try file.hasAttribute("cache_config") ? try file.attribute("cache_config").stringValue ?? "" : ""
        do {
            self = try JSONDecoder().decode(CacheConfig.self, from: Data(text.utf8))
        } catch {
            throw HDF5Error(file: file.filePath, object: "/", message: "attribute 'cache_config' is not kd's cache settings as JSON (\(error))")
        }
    }
}
