// `kd`: Hinton's soft targets from the cached logits (or a top-k cache), optionally on
// standardised logits (`standardize: true`, the `kd-ls` student).
import Losses
import Tensor

/// `T^2 * KL(softmax(t/T) || softmax(s/T))`.
///
/// ### References
/// Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531;
/// with `standardize`: Sun et al., "Logit Standardization in Knowledge Distillation", arXiv:2403.01427.
public struct SoftTargetTerm: LossTerm {
    public static let name = "kd"
    public let temperature: Double
    /// Z-score both sides' logits per image before the temperature.
    public let standardize: Bool

    enum CodingKeys: String, CodingKey { case temperature, standardize }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try keys.decode(Double.self, forKey: .temperature)
        standardize = try keys.decodeIfPresent(Bool.self, forKey: .standardize) ?? false
    }

    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard temperature > 0 else { throw setup.error("the kd term needs a positive temperature") }
        return Prepared(self, logits: try setup.logits(for: "the kd term"))
    }

    final class Prepared: PreparedTerm {
        let term: SoftTargetTerm
        let group: any LogitsGroup

        init(_ term: SoftTargetTerm, logits: any LogitsGroup) {
            self.term = term
            group = logits
        }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            let teacher = try batch.teacher.logits(group)
            return term.standardize
                ? softTargetLoss(studentLogits: standardized(logits: batch.logits), teacherLogits: standardized(logits: teacher), temperature: term.temperature)
                : softTargetLoss(studentLogits: batch.logits, teacherLogits: teacher, temperature: term.temperature)
        }
    }
}
