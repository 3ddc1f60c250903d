// What the logit-only methods (kd, dkd, dist) share: a positive temperature, optional logit
// standardisation, and a binding to the cached logits (all of them, or a top-k cache).
import Losses
import Tensor

/// A term comparing the student's logits with the teacher's cached ones, batch by batch.
public protocol LogitComparisonTerm: LossTerm {
    /// T or tau (> 0).
    var temperature: Double { get }
    /// Z-score both sides' logits per image first (logit standardisation, arXiv:2403.01427).
    var standardize: Bool { get }
    /// The unweighted loss from `[n, K]` student and teacher logits (standardised when asked);
    /// `batch` and `group` give what else a method reads (labels, the teacher's classes).
    func loss(student: Tensor, teacher: Tensor, batch: StudentBatch, group: any LogitsGroup) throws -> Tensor
}

extension LogitComparisonTerm {
    /// Binds to the cached logits; a non-positive temperature is an error.
    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard temperature > 0 else { throw setup.error("the \(Self.name) term needs a positive temperature") }
        return LogitComparison(self, logits: try setup.logits(for: "the \(Self.name) term"))
    }
}

/// A logit comparison bound to one cache's logits group.
final class LogitComparison<Term: LogitComparisonTerm>: PreparedTerm {
    let term: Term
    let group: any LogitsGroup

    init(_ term: Term, logits: any LogitsGroup) {
        self.term = term
        group = logits
    }

    func loss(_ batch: StudentBatch) throws -> Tensor {
        let teacher = try batch.teacher.logits(group)
        return term.standardize
            ? try term.loss(student: standardized(logits: batch.logits), teacher: standardized(logits: teacher), batch: batch, group: group)
            : try term.loss(student: batch.logits, teacher: teacher, batch: batch, group: group)
    }
}
