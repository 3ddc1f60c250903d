// The distillation losses of ../shared/DESIGN.md, each as in its paper's reference code.
// Logits are [N, K]; features [N, C, H, W]; attention maps [N, H*W].
import Tensor

/// Hinton's soft-target term `T^2 * KL(softmax(t/T) || softmax(s/T))`, averaged over the batch.
/// The full KD loss is `alpha * this + beta * crossEntropy(logits: s, labels: y)`.
///
/// ### References
/// Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531.
public func softTargetLoss(studentLogits: Tensor, teacherLogits: Tensor, temperature: Double) -> Tensor {
    let target = (teacherLogits.detached / temperature).softmax(axis: 1)
    return klDivergence(logProbabilities: (studentLogits / temperature).logSoftmax(axis: 1), targetProbabilities: target)
        * (temperature * temperature)
}

/// FitNet's hint loss between the regressor's output and the teacher's hint, as RepDistiller's
/// HintLoss: the mean squared error (the paper's `1/2 ||u - r(v)||^2` up to a constant that the
/// stage's learning rate absorbs).
///
/// ### References
/// Romero et al., "FitNets: Hints for Thin Deep Nets", arXiv:1412.6550.
public func hintLoss(prediction: Tensor, hint: Tensor) -> Tensor {
    meanSquaredError(prediction, hint.detached)
}

/// How an attention map pools the channels of a feature map at each position.
public enum AttentionMode: String, CaseIterable, Sendable {
    /// `sum_c |A_c|^p`, the paper's default (p = 2).
    case sumP = "sum_p"
    /// `sum_c |A_c|`.
    case sum
    /// `max_c |A_c|^p`.
    case maxP = "max_p"
}

/// The attention map of `[N, C, H, W]` features: `F(A)` over channels per position, flattened and
/// L2-normalised per image: `[N, H*W]`.
///
/// ### References
/// Zagoruyko, Komodakis, "Paying More Attention to Attention", arXiv:1612.03928.
public func attentionMap(_ features: Tensor, mode: AttentionMode = .sumP, p: Double = 2) -> Tensor {
    let mapped: Tensor
    switch mode {
    case .sum: mapped = features.abs().sum(axes: [1])
    case .maxP: mapped = features.abs().pow(p).max(axes: [1])
    case .sumP: mapped = features.channelPowerSum(p)
    }
    return mapped.reshaped([features.shape[0], -1]).l2Normalized(axis: 1)
}

/// Activation-based attention transfer for one layer pair: the mean over images and positions of
/// `(Q_S - Q_T)^2` between normalised maps `[N, H*W]`, as the paper's code (`(at(x) - at(y)).pow(2).mean()`).
/// The training loss adds `beta / 2` times the sum over layer pairs.
///
/// ### References
/// Zagoruyko, Komodakis, "Paying More Attention to Attention", arXiv:1612.03928.
public func attentionTransferLoss(student: Tensor, teacher: Tensor) -> Tensor {
    Tensor.squaredDistance(student, teacher.detached) / Double(student.count)
}

/// Gradient-based attention transfer: `1/2 ||J_S - J_T||^2` per image, averaged over the batch,
/// where `J` are `[N, C, H, W]` input gradients of the cross-entropy (the student's computed with `createGraph`,
/// so that this loss trains through them). The training loss multiplies it by `beta`.
///
/// ### References
/// Zagoruyko, Komodakis, "Paying More Attention to Attention", arXiv:1612.03928.
public func inputGradientLoss(student: Tensor, teacher: Tensor) -> Tensor {
    Tensor.squaredDistance(student, teacher.detached) * (0.5 / Double(student.shape[0]))
}

/// The activation-boundary loss of Heo et al.: with `rho = 1[teacher pre-ReLU > 0]` (given as
/// 0/1 `teacherFiring`) and the connector's output `s`,
/// `sum(rho * relu(mu - s)^2 + (1 - rho) * relu(mu + s)^2) / N * scale` (RepDistiller's ABLoss
/// uses `scale = 1/1000`).
///
/// ### References
/// Heo et al., "Knowledge Transfer via Distillation of Activation Boundaries Formed by Hidden
/// Neurons", arXiv:1811.03233.
public func activationBoundaryLoss(connected s: Tensor, teacherFiring rho: Tensor, margin mu: Double, scale: Double = 1e-3) -> Tensor {
    Tensor.marginSquares(s, mask: rho, margin: mu).sum() * (scale / Double(s.shape[0]))
}
