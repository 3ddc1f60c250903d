// `at`: activation-based attention transfer at pairs of [student layer, teacher cached layer].
// The student's maps are made with the mode and p stored on each cached group, so both sides are
// the same function of their features.
import Losses
import Tensor

/// `sum over pairs of mean((Q_S - Q_T)^2)` of L2-normalised maps; the weight is the paper's beta / 2.
///
/// ### References
/// Zagoruyko, Komodakis, "Paying More Attention to Attention", ICLR 2017, arXiv:1612.03928.
public struct AttentionTransferTerm: LossTerm {
    /// The name in a pipeline file (`loss: at`).
    public static let name = "at"
    /// `[student layer, teacher cached layer]` pairs; both maps of a pair must have the same H x W.
    public let pairs: [LayerPair]

    /// Binds each pair to the student's named layer and the cache's `attention/<teacher>`, checking their sizes.
    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard !pairs.isEmpty else { throw setup.error("the at term needs pairs of [student layer, teacher layer]") }
        let bound = try pairs.map { pair -> (layer: Int, group: AttentionMaps) in
            let layer = try setup.layer(pair.student, in: "at pair [\(pair.student), \(pair.teacher)]")
            let group = try setup.group(AttentionMaps.self, named: "attention/" + pair.teacher, for: "the at term")
            let shape = setup.probe.features[layer].shape
            guard shape[2] == group.height && shape[3] == group.width else {
                throw setup.error("at pair [\(pair.student), \(pair.teacher)]: the student's \(pair.student) is \(shape[2])x\(shape[3]), the teacher's map \(group.height)x\(group.width); attention maps must have the same size")
            }
            return (layer, group)
        }
        return Prepared(bound)
    }

    final class Prepared: PreparedTerm {
        let pairs: [(layer: Int, group: AttentionMaps)]

        init(_ pairs: [(layer: Int, group: AttentionMaps)]) { self.pairs = pairs }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            try pairs.reduce(Tensor(0)) { total, pair in
                let teacher = pair.group.tensor(try batch.teacher.values(pair.group), count: batch.indices.count)
                return total + attentionTransferLoss(student: pair.group.map(batch.output.features[pair.layer]), teacher: teacher)
            }
        }
    }
}
