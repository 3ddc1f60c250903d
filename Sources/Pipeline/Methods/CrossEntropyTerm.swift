// `ce`: cross-entropy on the images whose labels the student has (the others are left out of the mean).
import Losses
import Tensor

/// Cross-entropy with the hard labels: the `none` baseline's only term, and the label part of every method.
public struct CrossEntropyTerm: LossTerm {
    /// The name in a pipeline file (`loss: ce`).
    public static let name = "ce"
    /// False: the term reads labels only.
    public var usesTeacher: Bool { false }
    /// A mean over the batch's labelled images.
    public static let averagedImages = AveragedImages.labelled

    /// Needs nothing from the cache.
    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm { Prepared() }

    final class Prepared: PreparedTerm {
        func loss(_ batch: StudentBatch) throws -> Tensor { crossEntropy(logits: batch.logits, labels: batch.labels) }
    }
}
