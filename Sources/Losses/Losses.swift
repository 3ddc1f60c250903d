// Classification losses: cross-entropy with integer labels, KL divergence, mean squared error.
// Logits are `[N, K]` (N samples, K classes).
import Tensor

/// Mean cross-entropy `-log softmax(logits)[label]` over the samples with a label (`>= 0`);
/// samples labelled -1 (unlabelled) are left out. Zero when no sample is labelled.
public func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count, "cross-entropy of \(logits.shape) with \(labels.count) labels")
    let classes = logits.shape[1]
    let labelled = labels.indices.filter { labels[$0] >= 0 }
    guard !labelled.isEmpty else { return (logits * 0).sum() }
    precondition(labelled.allSatisfy { labels[$0] < classes }, "a label is outside 0..<\(classes)")
    let picked = logits.logSoftmax(axis: 1).gathered(flatIndices: labelled.map { $0 * classes + labels[$0] }, shape: [labelled.count])
    return -picked.mean()
}

/// `KL(p || q) = sum p (log p - log q)`, summed over classes and averaged over samples
/// (PyTorch's `kl_div(logQ, p, reduction="batchmean")`). `targetProbabilities` is a constant.
public func klDivergence(logProbabilities logQ: Tensor, targetProbabilities p: Tensor) -> Tensor {
    precondition(logQ.shape == p.shape, "KL divergence of \(logQ.shape) and \(p.shape)")
    let target = p.detached
    let logP = target.clamped(min: 1e-30).log()
    return (target * (logP - logQ)).sum() / Double(logQ.shape[0])
}

/// Mean of squared differences over every element (PyTorch's `mse_loss`).
public func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> Tensor {
    precondition(prediction.shape == target.shape, "MSE of \(prediction.shape) and \(target.shape)")
    return Tensor.squaredDistance(prediction, target) / Double(prediction.count)
}
