// `kd`: Hinton's soft targets from the cached logits (or a top-k cache), optionally on
// standardised logits (`standardize: true`, the `kd-ls` student).
import Losses
import Tensor

/// `T^2 * KL(softmax(t/T) || softmax(s/T))`.
///
/// ### References
/// Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531;
/// with `standardize`: Sun et al., "Logit Standardization in Knowledge Distillation", arXiv:2403.01427.
public struct SoftTargetTerm: LogitComparisonTerm {
    /// The name in a pipeline file (`loss: kd`).
    public static let name = "kd"
    /// T (> 0).
    public let temperature: Double
    /// Z-score both sides' logits per image before the temperature.
    public let standardize: Bool

    enum CodingKeys: String, CodingKey { case temperature, standardize }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try keys.decode(Double.self, forKey: .temperature)
        standardize = try keys.decodeIfPresent(Bool.self, forKey: .standardize) ?? false
    }

    /// `T^2 * KL` of the softened distributions.
    public func loss(student: Tensor, teacher: Tensor, batch: StudentBatch, group: any LogitsGroup) throws -> Tensor {
        softTargetLoss(studentLogits: student, teacherLogits: teacher, temperature: temperature)
    }
}
