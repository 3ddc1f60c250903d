// `dist`: DIST's inter- and intra-class correlation relations from the cached logits.
import Losses
import Tensor

/// `beta * inter + gamma * intra`, each `tau^2 * (1 - mean Pearson correlation)` of `softmax(z/tau)`.
///
/// ### References
/// Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022, arXiv:2205.10536.
public struct DISTTerm: LossTerm {
    public static let name = "dist"
    public let beta: Double
    public let gamma: Double
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

    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard temperature > 0 else { throw setup.error("the dist term needs a positive temperature") }
        return Prepared(self, logits: try setup.logits(for: "the dist term"))
    }

    final class Prepared: PreparedTerm {
        let term: DISTTerm
        let group: any LogitsGroup

        init(_ term: DISTTerm, logits: any LogitsGroup) {
            self.term = term
            group = logits
        }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            var teacher = try batch.teacher.logits(group), student = batch.logits
            if term.standardize { (student, teacher) = (standardized(logits: student), standardized(logits: teacher)) }
            let relations = distRelations(studentLogits: student, teacherLogits: teacher, temperature: term.temperature)
            return term.beta * relations.inter + term.gamma * relations.intra
        }
    }
}
