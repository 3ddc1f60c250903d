// `at_grad`: gradient-based attention transfer. Both input gradients are those of the
// cross-entropy against the teacher's own predicted class (the cached one by precompute, the
// student's here from the cached logits), so no dataset label enters this term; the student's is
// trained through by double backpropagation.
import Losses
import Tensor

/// `1/2 ||J_S - J_T||^2` per image, averaged; the weight is the paper's beta.
///
/// ### References
/// Zagoruyko, Komodakis, "Paying More Attention to Attention", ICLR 2017, arXiv:1612.03928.
public struct InputGradientTerm: LossTerm {
    /// The name in a pipeline file (`loss: at_grad`).
    public static let name = "at_grad"

    /// Binds to the cached `input_grad` and logits (for the teacher's predicted classes).
    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        let gradients = try setup.group(InputGradient.self, named: "input_grad", for: "the at_grad term")
        return Prepared(logits: try setup.logits(for: "the at_grad term (the teacher's predicted classes)"), gradients: gradients)
    }

    final class Prepared: PreparedTerm {
        let logits: any LogitsGroup
        let inputGradients: InputGradient
        var differentiatesInput: Bool { true }

        init(logits: any LogitsGroup, gradients: InputGradient) {
            self.logits = logits
            inputGradients = gradients
        }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            let classes = try batch.teacher.predictedClasses(logits)
            let n = batch.indices.count
            let student = gradients(of: crossEntropy(logits: batch.logits, labels: classes) * Double(n), wrt: [batch.input], createGraph: true)[0]
            let teacher = inputGradients.gradients(try batch.teacher.values(inputGradients), count: n)
            return inputGradientLoss(student: student, teacher: teacher)
        }
    }
}
