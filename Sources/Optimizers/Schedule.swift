// Learning-rate schedules, evaluated per iteration from the base rate.
import Foundation

/// How the learning rate moves over training.
public enum Schedule: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// Multiplied by `gamma` at each listed epoch (PyTorch's MultiStepLR).
    case multiStep(milestones: [Int], gamma: Double)
    /// Cosine decay from the base rate to 0 over all iterations (per iteration).
    case cosine

    /// The rate at `iteration` (0-based) of `total`, with `iterationsPerEpoch`, after a linear
    /// warm-up over the first `warmupIterations`.
    public func rate(base: Double, iteration: Int, total: Int, iterationsPerEpoch: Int, warmupIterations: Int = 0) -> Double {
        let scheduled: Double
        switch self {
        case .constant:
            scheduled = base
        case .multiStep(let milestones, let gamma):
            let epoch = iteration / Swift.max(1, iterationsPerEpoch)
            scheduled = base * Foundation.pow(gamma, Double(milestones.filter { epoch >= $0 }.count))
        case .cosine:
            scheduled = base * 0.5 * (1 + cos(Double.pi * Double(iteration) / Double(Swift.max(1, total))))
        }
        guard iteration < warmupIterations else { return scheduled }
        return scheduled * Double(iteration + 1) / Double(warmupIterations)
    }
}
