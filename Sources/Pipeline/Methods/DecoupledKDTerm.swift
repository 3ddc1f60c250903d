// `dkd`: decoupled KD from the cached logits. The target class is the label where the student
// has it and the teacher's predicted class elsewhere, so no unlabelled image's label enters.
import Losses
import Tensor

/// `alpha * TCKD + beta * NCKD`, both `T^2`-scaled; the paper's warm-up is the term's `warmup_epochs`.
///
/// ### References
/// Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022, arXiv:2203.08679;
/// with `standardize`: Sun et al., "Logit Standardization in Knowledge Distillation", arXiv:2403.01427.
public struct DecoupledKDTerm: LogitComparisonTerm {
    /// The name in a pipeline file (`loss: dkd`).
    public static let name = "dkd"
    /// The weight of TCKD (target class against the rest).
    public let alpha: Double
    /// The weight of NCKD (among the non-target classes).
    public let beta: Double
    /// T (> 0).
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

    /// `alpha * TCKD + beta * NCKD`, the target being the label or else the teacher's class.
    public func loss(student: Tensor, teacher: Tensor, batch: StudentBatch, group: any LogitsGroup) throws -> Tensor {
        let predicted = try batch.teacher.predictedClasses(group)
        let targets = zip(batch.labels, predicted).map { $0 >= 0 ? $0 : $1 }
        let parts = decoupledKDTerms(studentLogits: student, teacherLogits: teacher, targets: targets, temperature: temperature)
        return alpha * parts.target + beta * parts.nonTarget
    }
}
