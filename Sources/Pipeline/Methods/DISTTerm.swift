// `dist`: DIST's inter- and intra-class correlation relations from the cached logits.
import Losses
import Tensor

/// `beta * inter + gamma * intra`, each `tau^2 * (1 - mean Pearson correlation)` of `softmax(z/tau)`.
///
/// ### References
/// Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022, arXiv:2205.10536;
/// with `standardize`: Sun et al., "Logit Standardization in Knowledge Distillation", arXiv:2403.01427.
public struct DISTTerm: LogitComparisonTerm {
    /// The name in a pipeline file (`loss: dist`).
    public static let name = "dist"
    /// Its intra-class relation correlates each class's probabilities over the batch's images.
    public static let dataParallelObstacle: String? = "correlates the images of a batch with each other (the intra-class relation)"
    /// The weight of the inter-class relation.
    public let beta: Double
    /// The weight of the intra-class relation.
    public let gamma: Double
    /// tau (> 0).
    public let temperature: Double
    /// Z-score both sides' logits per image first (logit standardisation).
    public let standardize: Bool

    enum CodingKeys: String, CodingKey { case beta, gamma, temperature, standardize }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        beta = try keys.decode(Double.self, forKey: .beta)
        gamma = try keys.decode(Double.self, forKey: .gamma)
        temperature = try keys.decode(Double.self, forKey: .temperature)
        standardize = try keys.decodeIfPresent(Bool.self, forKey: .standardize) ?? false
    }

    /// `beta * inter + gamma * intra` of the batch's softened distributions.
    public func loss(student: Tensor, teacher: Tensor, batch: StudentBatch, group: any LogitsGroup) throws -> Tensor {
        let relations = distRelations(studentLogits: student, teacherLogits: teacher, temperature: temperature)
        return beta * relations.inter + gamma * relations.intra
    }
}
