// Test-set evaluation: top-1 accuracy, per-class accuracy, mean loss, and every prediction.
import Losses
import NN
import Parallel
import Tensor

/// How a model does on a labelled set.
public struct Evaluation: Sendable {
    /// Top-1 accuracy in [0, 1].
    public var accuracy: Double
    /// Accuracy per class, in label order.
    public var perClassAccuracy: [Double]
    /// Mean cross-entropy.
    public var loss: Double
    /// The predicted class of every image.
    public var predictions: [Int]
}

/// The index of the largest value of each row of `[N, K]` logits.
public func argmaxRows(_ logits: Tensor) -> [Int] {
    let (rows, columns) = (logits.shape[0], logits.shape[1])
    let values = logits.scalars
    return (0..<rows).map { row in
        let slice = values[(row * columns)..<((row + 1) * columns)]
        return slice.indices.max { slice[$0] < slice[$1] }! - row * columns
    }
}

/// Evaluates `model` (in evaluation mode, no gradients) on every image of `set`; with a `group`
/// (the same weights on every process) each process evaluates its slice and they share the results.
public func evaluate(_ model: any Classifier, on set: ImageSet, normalization: Normalization, batchSize: Int = 500,
                     group: (any ProcessGroup)? = nil) -> Evaluation {
    let wasTraining = model.isTraining
    model.train(false)
    defer { model.train(wasTraining) }
    let rows = group?.slice(of: set.count) ?? 0..<set.count
    var predictions: [Int] = []
    var totalLoss = 0.0
    GradMode.withoutGrad {
        for start in stride(from: rows.lowerBound, to: rows.upperBound, by: batchSize) {
            let indices = Array(start..<Swift.min(rows.upperBound, start + batchSize))
            let logits = model(set.batch(indices, normalization: normalization))
            let labels = indices.map { Int(set.labels[$0]) }
            totalLoss += crossEntropy(logits: logits, labels: labels).item * Double(indices.count)
            predictions += argmaxRows(logits)
        }
    }
    if let group {
        // Every image's class (as class + 1, zero elsewhere) and the loss sum, summed over the processes.
        var shared = [Double](repeating: 0, count: set.count + 1)
        for (offset, prediction) in predictions.enumerated() { shared[rows.lowerBound + offset] = Double(prediction + 1) }
        shared[set.count] = totalLoss
        shared = group.summed(shared)
        predictions = shared.prefix(set.count).map { Int($0) - 1 }
        totalLoss = shared[set.count]
    }
    var correct = [Int](repeating: 0, count: set.classNames.count), seen = correct
    for (index, prediction) in predictions.enumerated() {
        let label = Int(set.labels[index])
        seen[label] += 1
        if prediction == label { correct[label] += 1 }
    }
    return Evaluation(accuracy: Double(correct.reduce(0, +)) / Double(Swift.max(1, set.count)),
                      perClassAccuracy: zip(correct, seen).map { Double($0) / Double(Swift.max(1, $1)) },
                      loss: totalLoss / Double(Swift.max(1, set.count)), predictions: predictions)
}
