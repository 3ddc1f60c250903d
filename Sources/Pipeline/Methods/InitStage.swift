// Initialisation stages: trained before a student's main stage to shape its features (FitNet's
// hints, activation boundaries), through connectors that exist only during the stage. A stage is
// a type decoded from `init_stage: {kind: <name>, epochs: ..., <its own keys>}`.
import Foundation
import Tensor

/// A stage run before the main one, as written in a pipeline file.
public protocol InitStage: Codable, Sendable {
    /// The name in a pipeline file (`kind: hint`).
    static var kind: String { get }
    /// Why the stage changes when a batch is split over data-parallel processes, or nil (a mean over images).
    static var dataParallelObstacle: String? { get }
    /// Binds the stage to a student and a cache, checking names and shapes, and makes its connectors.
    func prepare(_ setup: TermSetup) throws -> any PreparedInitStage
}

extension InitStage {
    /// By default a mean over images.
    public static var dataParallelObstacle: String? { nil }
}

/// An initialisation stage bound to one run of a student.
public protocol PreparedInitStage: AnyObject {
    /// The connectors, trained during the stage only, by checkpoint name.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// The 1-based named layer the forward pass must reach (nil: the whole network).
    var depth: Int? { get }
    /// The stage's loss for one batch.
    func loss(_ batch: StudentBatch) throws -> Tensor
    /// Metrics of the epoch just finished (name: value), then reset.
    func epochMetrics() -> [String: Double]
}

/// An initialisation stage with its length and learning rate.
public struct InitStageEntry: Codable, Sendable {
    /// The stage, decoded by its `kind`.
    public let stage: any InitStage
    /// Epochs of the stage (> 0).
    public let epochs: Int
    /// The stage's learning rate (the main stage's when absent).
    public let lr: Double?

    enum CodingKeys: String, CodingKey { case kind, epochs, lr }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try keys.decode(String.self, forKey: .kind)
        guard let type = Methods.initStage(kind: kind) else {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: keys, debugDescription:
                "unknown init_stage kind '\(kind)'; known: \(Methods.initStageKinds.joined(separator: ", "))")
        }
        stage = try type.init(from: decoder)
        epochs = try keys.decode(Int.self, forKey: .epochs)
        lr = try keys.decodeIfPresent(Double.self, forKey: .lr)
    }

    public func encode(to encoder: Encoder) throws {
        var keys = encoder.container(keyedBy: CodingKeys.self)
        try keys.encode(type(of: stage).kind, forKey: .kind)
        try keys.encode(epochs, forKey: .epochs)
        try keys.encodeIfPresent(lr, forKey: .lr)
        try stage.encode(to: encoder)
    }
}

/// A `[student, teacher]` pair of names.
public struct LayerPair: Codable, Sendable, Equatable {
    /// The student's name: a named layer or a pre-activation point.
    public let student: String
    /// The teacher's name, as cached (`features/<name>`, `boundary/<name>`, ...).
    public let teacher: String

    /// The pair `[student, teacher]`.
    public init(student: String, teacher: String) {
        self.student = student
        self.teacher = teacher
    }

    public init(from decoder: Decoder) throws {
        var values = try decoder.unkeyedContainer()
        let names = [try values.decode(String.self), try values.decode(String.self)]
        guard values.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: values, debugDescription: "a pair is [student name, teacher name]")
        }
        (student, teacher) = (names[0], names[1])
    }

    public func encode(to encoder: Encoder) throws {
        var values = encoder.unkeyedContainer()
        try values.encode(student)
        try values.encode(teacher)
    }
}
