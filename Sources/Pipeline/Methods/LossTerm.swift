// How a distillation method plugs in: a loss term is a type, decoded from one entry of a
// student's `terms:` (`{loss: <name>, weight: ..., <its own keys>}`), bound before any training to
// the student, the cache and the teacher's shapes (`prepare`, which also checks them), and asked
// for its value batch by batch. Terms register by name in `Methods` (Methods.swift); each lives
// in a file of its own in this folder.
import Foundation
import NN
import Tensor

/// One weighted term of a student's main-stage loss, as written in a pipeline file.
public protocol LossTerm: Codable, Sendable {
    /// The name in a pipeline file (`loss: kd`).
    static var name: String { get }
    /// Whether the term reads the teacher. A student whose terms all read only labels trains on
    /// its labelled images alone; any other student sees every image.
    var usesTeacher: Bool { get }
    /// Why the term changes when a batch is split over data-parallel processes (it relates a
    /// batch's images to each other, or keeps state each process would update alone), or nil
    /// for a mean over the batch's images of a value per image.
    static var dataParallelObstacle: String? { get }
    /// The images the term's value is a mean over: a batch split over data-parallel processes
    /// weights each process's value by its share of them.
    static var averagedImages: AveragedImages { get }
    /// Binds the term to a student and a cache: resolves layer names and cache groups, checks
    /// shapes, and creates what the term trains or keeps (heads, memory banks).
    func prepare(_ setup: TermSetup) throws -> any PreparedTerm
}

extension LossTerm {
    /// By default a term reads the teacher.
    public var usesTeacher: Bool { true }
    /// By default a mean over images: splitting the batch does not change it.
    public static var dataParallelObstacle: String? { nil }
    /// By default every image of the batch.
    public static var averagedImages: AveragedImages { .all }
}

/// The images of a batch a loss term averages over.
public enum AveragedImages: Sendable {
    /// Every image.
    case all
    /// The images whose labels the student may use (cross-entropy).
    case labelled
}

/// A loss term bound to one run of a student.
public protocol PreparedTerm: AnyObject {
    /// Tensors trained along with the student (projection heads), by checkpoint name.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// State kept in checkpoints but not trained (memory banks), by checkpoint name.
    var state: [(name: String, tensor: Tensor)] { get }
    /// Whether the term differentiates the student's output with respect to its input (the
    /// input then requires gradients before the forward pass).
    var differentiatesInput: Bool { get }
    /// The term's unweighted value for one batch.
    func loss(_ batch: StudentBatch) throws -> Tensor
    /// Called after the optimiser step of a batch.
    func finishStep(_ batch: StudentBatch)
}

extension PreparedTerm {
    /// By default none.
    public var parameters: [(name: String, tensor: Tensor)] { [] }
    /// By default none.
    public var state: [(name: String, tensor: Tensor)] { [] }
    /// By default false.
    public var differentiatesInput: Bool { false }
    /// By default nothing.
    public func finishStep(_ batch: StudentBatch) {}
}

/// What a term (or an initialisation stage) may check and bind to before training.
public struct TermSetup {
    /// `students.<name>`: where in the pipeline file the term is configured, for messages.
    public let owner: String
    /// The pipeline file, for messages.
    public let file: String
    /// A freshly made student.
    public let student: any Classifier
    /// The student's outputs for two zero images: the shapes of its named layers, pre-activations and embedding.
    public let probe: ModelOutput
    /// The groups the cache holds.
    public let schema: CacheSchema
    /// The cache file, for messages about its groups.
    public let cachePath: String
    /// N, the images in the cache.
    public let images: Int
    /// The run's seed: a term's own random state starts from it.
    public let seed: UInt64

    /// A configuration error about this student.
    public func error(_ message: String) -> ConfigError { ConfigError(file: file, message: "\(owner): \(message)") }

    /// The 0-based index of the student's named layer `name`, or an error listing its layers.
    public func layer(_ name: String, in what: String) throws -> Int {
        guard let index = student.layerNames.firstIndex(of: name) else {
            throw error("\(what): \(student.arch) has no layer '\(name)'; its layers are \(student.layerNames.joined(separator: ", "))")
        }
        return index
    }

    /// The 0-based index of the student's pre-activation point `name`, or an error listing its points.
    public func point(_ name: String, in what: String) throws -> Int {
        guard let index = student.preActivationNames.firstIndex(of: name) else {
            throw error("\(what): \(student.arch) has no pre-activation '\(name)'; its points are \(student.preActivationNames.joined(separator: ", "))")
        }
        return index
    }

    /// The cache group of kind `kind` called `name`, or an error naming the option that adds it.
    public func group<G: CacheGroup>(_ kind: G.Type, named name: String, for term: String) throws -> G {
        try schema.group(kind, named: name, file: cachePath, for: "\(term) of \(owner)")
    }

    /// The teacher's logits group, or an error naming the option that adds it.
    public func logits(for term: String) throws -> any LogitsGroup {
        try schema.logits(file: cachePath, for: "\(term) of \(owner)")
    }
}

/// One batch of a student as its terms see it.
public struct StudentBatch {
    /// `[n, C, H, W]`; requires gradients when a term differentiates the input.
    public let input: Tensor
    /// The student's forward pass on `input`.
    public let output: ModelOutput
    /// The images of the batch (cache rows).
    public let indices: [Int]
    /// Each image's label, or -1 where the student may not use it: no other label reaches a term.
    public let labels: [Int]
    /// The epoch (1-based).
    public let epoch: Int
    /// Epochs done so far, counting this batch (fractional): what warm-ups ramp with.
    public let progress: Double
    /// The batch's number in the whole run (0-based): seeds per-batch randomness.
    public let step: Int
    /// The teacher's rows for these images in this epoch's view.
    public let teacher: TeacherRows

    /// `[n, K]` student logits.
    public var logits: Tensor { output.logits! }
}

/// A term with its weight and how the weight moves during the stage.
public struct WeightedTerm: Codable, Sendable {
    /// The term, decoded by its `loss` name.
    public let term: any LossTerm
    /// The weight (a paper's alpha, beta or lambda).
    public let weight: Double
    /// The weight at the end of the stage, reached linearly by epoch (FitNet's annealed lambda).
    public let weightEnd: Double?
    /// Epochs over which the weight ramps up linearly from 0 (DKD's warm-up), by batch.
    public let warmupEpochs: Double?

    enum CodingKeys: String, CodingKey { case loss, weight, weightEnd = "weight_end", warmupEpochs = "warmup_epochs" }

    /// `term` at `weight`, optionally annealed to `weightEnd` and ramped up over `warmupEpochs`.
    public init(_ term: any LossTerm, weight: Double, weightEnd: Double? = nil, warmupEpochs: Double? = nil) {
        self.term = term
        self.weight = weight
        self.weightEnd = weightEnd
        self.warmupEpochs = warmupEpochs
    }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        let name = try keys.decode(String.self, forKey: .loss)
        guard let kind = Methods.lossTerm(named: name) else {
            throw DecodingError.dataCorruptedError(forKey: .loss, in: keys, debugDescription:
                "unknown loss '\(name)'; known: \(Methods.lossTermNames.joined(separator: ", "))")
        }
        term = try kind.init(from: decoder)
        weight = try keys.decode(Double.self, forKey: .weight)
        weightEnd = try keys.decodeIfPresent(Double.self, forKey: .weightEnd)
        warmupEpochs = try keys.decodeIfPresent(Double.self, forKey: .warmupEpochs)
    }

    public func encode(to encoder: Encoder) throws {
        var keys = encoder.container(keyedBy: CodingKeys.self)
        try keys.encode(type(of: term).name, forKey: .loss)
        try keys.encode(weight, forKey: .weight)
        try keys.encodeIfPresent(weightEnd, forKey: .weightEnd)
        try keys.encodeIfPresent(warmupEpochs, forKey: .warmupEpochs)
        try term.encode(to: encoder)
    }

    /// The weight for a batch of epoch `epoch` (1-based) of `epochs`, `progress` epochs done.
    func weight(epoch: Int, of epochs: Int, progress: Double) -> Double {
        var value = weight
        if let end = weightEnd, epochs > 1 { value += (end - weight) * Double(epoch - 1) / Double(epochs - 1) }
        if let warmup = warmupEpochs, warmup > 0 { value *= Swift.min(1, progress / warmup) }
        return value
    }
}
