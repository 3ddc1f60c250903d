// Softmax and log-softmax (stable: the maximum is subtracted first), and dropout.

extension Tensor {
    /// `log(softmax(x))` along `axis`, computed as `x - max - log(sum(exp(x - max)))`.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let shifted = self - max(axes: [axis], keepDims: true).detached
        return shifted - shifted.exp().sum(axes: [axis], keepDims: true).log()
    }

    /// `exp(x_i) / sum_j exp(x_j)` along `axis`.
    public func softmax(axis: Int = -1) -> Tensor {
        logSoftmax(axis: axis).exp()
    }

    /// Zeroes each element with probability `p` and scales the rest by `1/(1-p)` (training only).
    public func dropout(_ p: Double, generator: inout SeededGenerator) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
        guard p > 0 else { return self }
        let keep = 1 / (1 - p)
        let mask = (0..<count).map { _ in Double.random(in: 0..<1, using: &generator) < p ? 0 : keep }
        let maskTensor = dtype == .float64 ? Tensor(shape: shape, doubles: mask) : Tensor(shape: shape, scalars: mask.map(Float.init))
        return self * maskTensor
    }
}
