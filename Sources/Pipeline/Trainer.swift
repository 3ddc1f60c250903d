// The training loop shared by the teacher and the students: epochs of shuffled mini-batches,
// evaluation on the test set after each, metrics.jsonl and a TensorBoard event file, `last.h5`
// every epoch and `best.h5` on improvement, and exact resumption from `last.h5` (same shuffles,
// same rates, same momentum).
import Checkpoints
import Foundation
import HDF5
import NN
import Optimizers
import Tensor

/// Training stopped: a non-finite loss, or a configuration that no longer matches the checkpoint.
public struct TrainingError: Error, CustomStringConvertible {
    public let message: String
    /// The epoch it stopped in, when training had started.
    public var epoch: Int?
    public var description: String { message }
}

/// The settings that differ between two JSON texts, as `path: then -> now` (a few of them).
func settingsDifference(saved: String, current: String) -> String {
    func object(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
    func text(_ value: Any?) -> String {
        guard let value, let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "none" }
        let string = String(decoding: data, as: UTF8.self)
        return string.count > 40 ? string.prefix(37) + "..." : string
    }
    var differences: [String] = []
    func walk(_ a: Any?, _ b: Any?, _ path: String) {
        if let a = a as? [String: Any], let b = b as? [String: Any] {
            for key in Set(a.keys).union(b.keys).sorted() { walk(a[key], b[key], path.isEmpty ? key : path + "." + key) }
        } else if let a = a as? [Any], let b = b as? [Any], a.count == b.count {
            for index in a.indices { walk(a[index], b[index], path + "[\(index)]") }
        } else if text(a) != text(b) {
            differences.append("\(path.isEmpty ? "settings" : path): \(text(a)) then, \(text(b)) now")
        }
    }
    walk(object(saved) ?? saved, object(current) ?? current, "")
    return differences.prefix(3).joined(separator: "; ") + (differences.count > 3 ? "; ..." : "")
}

/// The outcome of a training run.
public struct TrainingSummary: Sendable {
    public var bestAccuracy: Double
    public var bestEpoch: Int
    public var lastAccuracy: Double
    public var epochs: Int
    /// Training seconds (evaluation excluded), all epochs including resumed ones.
    public var trainSeconds: Double
    public var imagesPerSecond: Double
    /// The last epoch's agreement with `teacherPredictions`, when given.
    public var lastAgreement: Double?
}

/// Where a batch is in the run: its epoch (1-based), its number in the epoch (0-based), the
/// batches per epoch.
public struct TrainingStep: Sendable {
    public var epoch: Int
    public var batch: Int
    public var batches: Int

    /// Epochs done, counting this batch.
    public var progress: Double { Double(epoch - 1) + Double(batch + 1) / Double(batches) }
    /// The batch's number in the whole run (0-based).
    public var global: Int { (epoch - 1) * batches + batch }
}

/// Trains one classifier. `loss` maps a batch (inputs `[n,C,H,W]` and the sample indices) to the
/// loss to minimise and the logits (for the training accuracy).
public final class Trainer {
    public typealias LossFunction = (_ input: Tensor, _ indices: [Int], _ step: TrainingStep) throws -> (loss: Tensor, logits: Tensor)

    let model: any Classifier
    let trainSet: ImageSet
    let testSet: ImageSet
    let normalization: Normalization
    let config: TrainingConfig
    let directory: String
    let stage: String
    let attributes: [String: AttributeValue]
    /// The samples to train on (all by default).
    public var trainingIndices: [Int]
    /// The batches of an epoch (1-based); by default `trainingIndices` shuffled and cut in batches.
    public var batchPlan: ((_ epoch: Int) -> [[Int]])?
    /// The inputs of a batch; by default the training images under random views of `config.augment`.
    public var inputs: ((_ indices: [Int], _ epoch: Int) -> Tensor)?
    /// Called at the end of each epoch for further metrics of the epoch (name: value), recorded and printed.
    public var epochMetrics: (() -> [String: Double])?
    /// The teacher's test-set classes: each epoch then also records the student's agreement with them.
    public var teacherPredictions: [Int]?
    /// Trained along with the model (regressors, connectors); saved under `extra/` in `last.h5`.
    public var extraParameters: [(name: String, tensor: Tensor)] = []
    /// Kept along with the model but not trained (memory banks); saved under `extra/` in `last.h5`.
    public var extraState: [(name: String, tensor: Tensor)] = []
    /// Called after each optimiser step.
    public var afterStep: (() -> Void)?
    /// What identifies the run's settings in its checkpoints (a resumed run must match it); by
    /// default the training configuration.
    public var settingsText: String?

    public init(model: any Classifier, trainSet: ImageSet, testSet: ImageSet, normalization: Normalization,
                config: TrainingConfig, directory: String, stage: String, attributes: [String: AttributeValue]) {
        self.model = model
        self.trainSet = trainSet
        self.testSet = testSet
        self.normalization = normalization
        self.config = config
        self.directory = directory
        self.stage = stage
        self.attributes = attributes
        trainingIndices = Array(0..<trainSet.count)
    }

    var lastPath: String { directory + "/last.h5" }
    var bestPath: String { directory + "/best.h5" }
    var metrics: MetricsLog { MetricsLog(path: directory + "/metrics.jsonl") }

    /// The configuration as canonical JSON, stored in checkpoints to detect changes on resume.
    var configText: String {
        if let settingsText { return settingsText }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(config)) ?? Data(), as: UTF8.self)
    }

    /// Trains to `config.epochs`, resuming from `last.h5` when it exists (unless `restart`).
    public func run(restart: Bool = false, loss: LossFunction) throws -> TrainingSummary {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let plan = batchPlan ?? { [trainingIndices, config] epoch in
            var order = trainingIndices
            var shuffle = SeededGenerator(seed: config.seed &* 1_000_003 &+ UInt64(epoch))
            order.shuffle(using: &shuffle)
            return stride(from: 0, to: order.count, by: config.batchSize).map { Array(order[$0..<Swift.min(order.count, $0 + config.batchSize)]) }
        }
        let batches = plan(1).count
        let totalIterations = batches * config.epochs
        let optimizer = SGD(model.namedParameters() + extraParameters, learningRate: config.optimizer.lr, momentum: config.optimizer.momentum,
                            nesterov: config.optimizer.nesterov, weightDecay: config.optimizer.weightDecay,
                            decayNormsAndBiases: config.optimizer.decayNormsAndBiases ?? true)
        var startEpoch = 1
        var summary = TrainingSummary(bestAccuracy: -1, bestEpoch: 0, lastAccuracy: 0, epochs: config.epochs, trainSeconds: 0, imagesPerSecond: 0,
                                      lastAgreement: nil)
        if !restart, FileManager.default.fileExists(atPath: lastPath) {
            let saved = try Checkpoint.load(lastPath, into: model)
            guard saved["training_config"]?.stringValue == configText else {
                let difference = settingsDifference(saved: saved["training_config"]?.stringValue ?? "", current: configText)
                throw TrainingError(message: "\(lastPath) was trained with other settings (\(difference)): pass --restart to train it again, or remove \(directory)")
            }
            try Checkpoint.loadExtra(lastPath, into: extraParameters + extraState)
            if let momentum = try Checkpoint.momentum(lastPath, for: model, extra: extraParameters) { optimizer.setVelocities(momentum) }
            let epoch = Int(saved["epoch"]?.intValue ?? 0)
            startEpoch = epoch + 1
            summary.bestAccuracy = saved["best_test_accuracy"]?.doubleValue ?? -1
            summary.bestEpoch = Int(saved["best_epoch"]?.intValue ?? 0)
            summary.lastAccuracy = saved["test_accuracy"]?.doubleValue ?? 0
            summary.trainSeconds = saved["train_seconds"]?.doubleValue ?? 0
            try metrics.truncate(to: epoch)
            if epoch < config.epochs { print("\(stage): resuming after epoch \(epoch) from \(lastPath)") }
        } else {
            try? FileManager.default.removeItem(atPath: metrics.path)
        }

        for epoch in startEpoch...Swift.max(startEpoch, config.epochs) where epoch <= config.epochs {
            let epochBatches = plan(epoch)
            var augment = SeededGenerator(seed: config.seed &* 1_000_033 &+ UInt64(epoch) &* 7)
            let bar = ProgressBar("\(stage) epoch \(epoch)/\(config.epochs)", total: epochBatches.reduce(0) { $0 + $1.count })
            let start = Date()
            var (lossSum, correct, seen) = (0.0, 0, 0)
            model.train(true)
            for (batch, indices) in epochBatches.enumerated() {
                let input: Tensor
                if let inputs {
                    input = inputs(indices, epoch)
                } else {
                    let views = config.augment == .none ? nil : indices.map { _ in View.random(config.augment, generator: &augment) }
                    input = trainSet.batch(indices, normalization: normalization, views: views, padding: config.augment.cropPadding)
                }
                let iteration = (epoch - 1) * batches + batch
                optimizer.learningRate = config.optimizer.scheduleValue.rate(
                    base: config.optimizer.lr, iteration: iteration, total: totalIterations, iterationsPerEpoch: batches,
                    warmupIterations: Int((config.optimizer.warmupEpochs ?? 0) * Double(batches)))
                optimizer.zeroGrad()
                let (value, logits) = try loss(input, indices, TrainingStep(epoch: epoch, batch: batch, batches: batches))
                let lossValue = value.item
                guard lossValue.isFinite else {
                    throw TrainingError(message: "\(stage): the loss is \(lossValue) at epoch \(epoch), batch \(batch + 1); "
                                        + (epoch > 1 ? "the last good checkpoint is \(lastPath) (epoch \(epoch - 1))" : "no checkpoint was written"),
                                        epoch: epoch)
                }
                value.backward()
                if let maxNorm = config.optimizer.clipNorm { clipGradientNorm(model.parameters + extraParameters.map(\.tensor), maxNorm: maxNorm) }
                optimizer.step()
                afterStep?()
                lossSum += lossValue * Double(indices.count)
                for (prediction, index) in zip(argmaxRows(logits.detached), indices) where prediction == Int(trainSet.labels[index]) { correct += 1 }
                seen += indices.count
                bar.update(seen, extra: String(format: "loss %.4f acc %.2f%%", lossSum / Double(seen), 100 * Double(correct) / Double(seen)))
            }
            let seconds = Date().timeIntervalSince(start)
            let evaluation = evaluate(model, on: testSet, normalization: normalization)
            bar.finish(extra: String(format: "loss %.4f acc %.2f%% | test acc %.2f%%", lossSum / Double(seen),
                                     100 * Double(correct) / Double(seen), 100 * evaluation.accuracy))
            summary.trainSeconds += seconds
            summary.lastAccuracy = evaluation.accuracy
            if evaluation.accuracy > summary.bestAccuracy {
                (summary.bestAccuracy, summary.bestEpoch) = (evaluation.accuracy, epoch)
            }
            let extra = epochMetrics?()
            if let extra, !extra.isEmpty {
                print("\(stage) epoch \(epoch): " + extra.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f%%", $0.key, 100 * $0.value) }.joined(separator: ", "))
            }
            let agreement = teacherPredictions.map { teacher in
                Double(zip(evaluation.predictions, teacher).filter { $0 == $1 }.count) / Double(Swift.max(1, teacher.count))
            }
            try metrics.append(EpochRecord(epoch: epoch, stage: stage, trainLoss: lossSum / Double(seen),
                                           trainAccuracy: Double(correct) / Double(seen), testLoss: evaluation.loss,
                                           testAccuracy: evaluation.accuracy, perClassAccuracy: evaluation.perClassAccuracy,
                                           learningRate: optimizer.learningRate, seconds: seconds, imagesPerSecond: Double(seen) / seconds,
                                           agreement: agreement, extra: extra))
            try TensorBoardLog.write(try metrics.records(), to: directory)
            var state = attributes
            state["epoch"] = .int(Int64(epoch))
            state["test_accuracy"] = .double(evaluation.accuracy)
            state["best_test_accuracy"] = .double(summary.bestAccuracy)
            state["best_epoch"] = .int(Int64(summary.bestEpoch))
            state["train_seconds"] = .double(summary.trainSeconds)
            state["training_config"] = .string(configText)
            if summary.bestEpoch == epoch { try Checkpoint.save(model, to: bestPath, attributes: state) }
            try Checkpoint.save(model, to: lastPath, attributes: state, extra: extraParameters, state: extraState, momentum: optimizer.velocities)
        }
        let records = try metrics.records()
        summary.lastAgreement = records.last?.agreement
        summary.imagesPerSecond = Double(records.count * plan(1).reduce(0) { $0 + $1.count }) / Swift.max(summary.trainSeconds, 1e-9)
        return summary
    }
}
