// Stochastic gradient descent with momentum, Nesterov and weight decay, as torch.optim.SGD.
import Tensor

/// SGD: `d = g + wd * p; v = mu * v + d; p -= lr * (nesterov ? d + mu * v : v)` (dampening 0).
public final class SGD {
    /// `lr`; the trainer sets it from the schedule before each step.
    public var learningRate: Double
    /// `mu`; 0 turns momentum off.
    public let momentum: Double
    /// Whether the update uses Nesterov momentum (`d + mu * v`).
    public let nesterov: Bool
    /// `wd`, the L2 penalty added to each decayed parameter's gradient.
    public let weightDecay: Double
    /// The parameters, each with whether weight decay applies to it.
    public let parameters: [(tensor: Tensor, decay: Bool)]
    /// One momentum buffer per parameter (zeros until the first step).
    public private(set) var velocities: [Tensor]

    /// An optimiser over the `named` parameters, with zero momentum buffers.
    ///
    /// - Parameter decayNormsAndBiases: whether batch-norm weights and biases (rank-1 parameters)
    ///   get weight decay too (PyTorch's default: yes).
    public init(_ named: [(name: String, tensor: Tensor)], learningRate: Double, momentum: Double = 0.9,
                nesterov: Bool = false, weightDecay: Double = 0, decayNormsAndBiases: Bool = true) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        parameters = named.map { ($0.tensor, decayNormsAndBiases || $0.tensor.rank > 1) }
        velocities = named.map { Tensor.zeros($0.tensor.shape, dtype: $0.tensor.dtype) }
    }

    /// Applies one update from each parameter's `.grad` (parameters without one are skipped).
    public func step() {
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.tensor.grad else { continue }
            let direction = grad.copy()
            if parameter.decay && weightDecay != 0 { direction.update(adding: parameter.tensor, scaledBy: weightDecay) }
            if momentum != 0 {
                velocities[index].update(adding: direction, scaledBy: 1, keeping: momentum)
                if nesterov {
                    direction.update(adding: velocities[index], scaledBy: momentum)
                } else {
                    direction.update(adding: velocities[index], scaledBy: 1, keeping: 0)
                }
            }
            parameter.tensor.update(adding: direction, scaledBy: -learningRate)
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for parameter in parameters { parameter.tensor.grad = nil }
    }

    /// Restores momentum buffers (resuming from a checkpoint).
    public func setVelocities(_ values: [Tensor]) {
        precondition(values.count == velocities.count && zip(values, velocities).allSatisfy { $0.shape == $1.shape },
                     "momentum buffers do not match the parameters")
        velocities = values
    }
}

/// Scales all gradients down so that their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping (as torch.nn.utils.clip_grad_norm_).
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Double) -> Double {
    let norm = parameters.reduce(0.0) { $0 + ($1.grad?.squaredNorm ?? 0) }.squareRoot()
    if norm > maxNorm {
        let scale = maxNorm / (norm + 1e-6)
        for parameter in parameters { parameter.grad?.update(scaledBy: scale) }
    }
    return norm
}
