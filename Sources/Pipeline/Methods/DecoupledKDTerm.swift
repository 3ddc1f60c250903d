// `dkd`: decoupled KD from the cached logits. The target class is the label where the student
// has it and the teacher's predicted class elsewhere, so no unlabelled image's label enters.
import Losses
import Tensor

/// `alpha * TCKD + beta * NCKD`, both `T^2`-scaled; the paper's warm-up is the term's `warmup_epochs`.
///
/// ### References
/// Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022, arXiv:2203.08679.
public struct DecoupledKDTerm: LossTerm {
    public static let name = "dkd"
    public let alpha: Double
    public let beta: Double
    public let temperature: Double
    /// Z-score both sides' logits per image first (logit standardisation).
    public let standardize: Bool

    enum CodingKeys: String, CodingKey { case alpha, beta, temperature, standardize }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        alpha = try keys.decode(Double.self, forKey: .alpha)
        beta = try keys.decode(Double.self, forKey: .beta)
        temperature = try keys.decode(Double.self, forKey: .temperature)
        standardize = try keys.decodeIfPresent(Bool.self, forKey: .standardize) ?? false
    }

    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard temperature > 0 else { throw setup.error("the dkd term needs a positive temperature") }
        return Prepared(self, logits: try setup.logits(for: "the dkd term"))
    }

    final class Prepared: PreparedTerm {
        let term: DecoupledKDTerm
        let group: any LogitsGroup

        init(_ term: DecoupledKDTerm, logits: any LogitsGroup) {
            self.term = term
            group = logits
        }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            var teacher = try batch.teacher.logits(group), student = batch.logits
            let predicted = try batch.teacher.predictedClasses(group)
            let targets = zip(batch.labels, predicted).map { $0 >= 0 ? $0 : $1 }
            if term.standardize { (student, teacher) = (standardized(logits: student), standardized(logits: teacher)) }
            let parts = decoupledKDTerms(studentLogits: student, teacherLogits: teacher, targets: targets, temperature: term.temperature)
            return term.alpha * parts.target + term.beta * parts.nonTarget
        }
    }
}
