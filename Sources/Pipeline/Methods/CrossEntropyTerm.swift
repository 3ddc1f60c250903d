// `ce`: cross-entropy on the images whose labels the student has (the others are left out of the mean).
import Losses
import Tensor

/// Cross-entropy with the hard labels: the `none` baseline's only term, and the label part of every method.
public struct CrossEntropyTerm: LossTerm {
    public static let name = "ce"
    public var usesTeacher: Bool { false }

    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm { Prepared() }

    final class Prepared: PreparedTerm {
        func loss(_ batch: StudentBatch) throws -> Tensor { crossEntropy(logits: batch.logits, labels: batch.labels) }
    }
}
