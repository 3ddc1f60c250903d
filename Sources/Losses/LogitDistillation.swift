// The logit-based distillation losses that came after Hinton's KD: decoupled KD, DIST's
// correlation relations, and logit standardisation. Logits are [N, K] (N samples, K classes).
import Tensor

/// Each row of `[N, K]` logits z-scored: `(z - mean(z)) / (1e-7 + std(z))`, with the sample
/// standard deviation (divisor K - 1, as `torch.std`). Shift- and scale-free logits, so that
/// a student need not match the teacher's logit range, only its shape.
///
/// ### References
/// Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024, arXiv:2403.01427.
public func standardized(logits z: Tensor) -> Tensor {
    let classes = Double(z.shape[1])
    let centred = z - z.mean(axes: [1], keepDims: true)
    let std = (centred.pow(2).sum(axes: [1], keepDims: true) / (classes - 1)).sqrt()
    return centred / (std + 1e-7)
}

/// The two parts of decoupled KD, each scaled by `T^2` and averaged over the batch:
/// `target`: KL between the binary (target class, all others) probabilities of teacher and
/// student (TCKD); `nonTarget`: KL between their distributions over the non-target classes
/// alone (NCKD). `targets [N]` holds each row's target class. The loss is
/// `alpha * target + beta * nonTarget`.
///
/// ### References
/// Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022, arXiv:2203.08679.
public func decoupledKDTerms(studentLogits s: Tensor, teacherLogits t: Tensor, targets: [Int],
                             temperature: Double) -> (target: Tensor, nonTarget: Tensor) {
    precondition(s.shape == t.shape && s.rank == 2 && targets.count == s.shape[0], "DKD of \(s.shape) and \(t.shape) with \(targets.count) targets")
    let (n, k) = (s.shape[0], s.shape[1])
    var oneHot = [Double](repeating: 0, count: n * k)
    for (row, target) in targets.enumerated() { oneHot[row * k + target] = 1 }
    let gt = s.dtype == .float64 ? Tensor(shape: [n, k], doubles: oneHot) : Tensor(shape: [n, k], scalars: oneHot.map(Float.init))
    let other = 1 - gt
    let scale = temperature * temperature / Double(n)

    // TCKD: [p_target, 1 - p_target] of each side.
    let studentProbabilities = (s / temperature).softmax(axis: 1)
    let teacherProbabilities = (t.detached / temperature).softmax(axis: 1)
    func binary(_ p: Tensor) -> Tensor {
        Tensor.concatenated([(p * gt).sum(axes: [1], keepDims: true), (p * other).sum(axes: [1], keepDims: true)], axis: 1)
    }
    let teacherBinary = binary(teacherProbabilities)
    let studentBinary = binary(studentProbabilities).clamped(min: 1e-30)
    let target = (teacherBinary * (teacherBinary.clamped(min: 1e-30).log() - studentBinary.log())).sum() * scale

    // NCKD: both distributions renormalised over the other classes (the target logit pushed to -1000).
    let teacherOthers = (t.detached / temperature - 1000 * gt).softmax(axis: 1)
    let studentOthers = (s / temperature - 1000 * gt).logSoftmax(axis: 1)
    let nonTarget = (teacherOthers * (teacherOthers.clamped(min: 1e-30).log() - studentOthers)).sum() * scale
    return (target, nonTarget)
}

/// DIST's two relations between the softened predictions `softmax(z/tau)` of student and teacher,
/// each `tau^2 * (1 - mean Pearson correlation)`: `inter` along each sample's row (the classes'
/// ranking per image), `intra` along each class's column (the images' ranking per class). The
/// loss is `beta * inter + gamma * intra`.
///
/// ### References
/// Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022, arXiv:2205.10536.
public func distRelations(studentLogits s: Tensor, teacherLogits t: Tensor, temperature tau: Double) -> (inter: Tensor, intra: Tensor) {
    precondition(s.shape == t.shape && s.rank == 2, "DIST of \(s.shape) and \(t.shape)")
    let ys = (s / tau).softmax(axis: 1)
    let yt = (t.detached / tau).softmax(axis: 1)
    /// 1 - the mean over rows of the Pearson correlation of `a` and `b` along axis 1.
    func decorrelation(_ a: Tensor, _ b: Tensor) -> Tensor {
        let ca = a - a.mean(axes: [1], keepDims: true), cb = b - b.mean(axes: [1], keepDims: true)
        let cosine = (ca * cb).sum(axes: [1]) / (ca.pow(2).sum(axes: [1]).sqrt() * cb.pow(2).sum(axes: [1]).sqrt() + 1e-8)
        return 1 - cosine.mean()
    }
    let scale = tau * tau
    return (decorrelation(ys, yt) * scale, decorrelation(ys.permuted([1, 0]), yt.permuted([1, 0])) * scale)
}
