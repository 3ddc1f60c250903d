// The training loop shared by the teacher and the students: epochs of planned mini-batches,
// evaluation on the test set after each, and exact resumption from `last.h5` (same batches, same
// rates, same momentum). What it shows and writes are observers of its events. Data-parallel, each
// process of a group trains its slice of every batch and the group sums gradients, batch-norm
// statistics and the evaluation, so N processes train the weights one process would.
import Checkpoints
import Foundation
import HDF5
import NN
import Optimizers
import Parallel
import Tensor

/// Training stopped: a non-finite loss, or a configuration that no longer matches the checkpoint.
public struct TrainingError: Error, CustomStringConvertible {
    /// What happened, and what to do.
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
    /// The best epoch's test accuracy, in 0...1 (-1 before any epoch).
    public var bestAccuracy: Double
    /// That epoch (1-based; 0 before any).
    public var bestEpoch: Int
    /// The last epoch's test accuracy, in 0...1.
    public var lastAccuracy: Double
    /// Training seconds (evaluation excluded), all epochs including resumed ones.
    public var trainSeconds: Double
    /// Training images per second over all epochs.
    public var imagesPerSecond: Double
    /// The last epoch's agreement with `teacherPredictions`, when given.
    public var lastAgreement: Double?
}

/// Where a batch is in the run: its epoch (1-based), its number in the epoch (0-based), the
/// batches per epoch, and the whole batch's images.
public struct TrainingStep: Sendable {
    /// The epoch (1-based).
    public var epoch: Int
    /// The batch within the epoch (0-based).
    public var batch: Int
    /// Batches per epoch.
    public var batches: Int
    /// The whole batch's images: data-parallel, every process's, of which the loss function gets
    /// its own; alone, the same images.
    public var wholeBatch: [Int]

    /// Epochs done, counting this batch.
    public var progress: Double { Double(epoch - 1) + Double(batch + 1) / Double(batches) }
    /// The batch's number in the whole run (0-based).
    public var global: Int { (epoch - 1) * batches + batch }
}

/// Trains one classifier: epochs of mini-batches, evaluation on the test set after each, resuming
/// from `last.h5` exactly. `loss` maps a batch (inputs `[n,C,H,W]`, the sample indices, where the
/// batch is) to the loss to minimise and the logits (for the training accuracy). Progress, metrics,
/// TensorBoard and checkpoints are observers of the loop's events (`TrainingEvents.swift`).
public final class Trainer {
    /// A batch (inputs `[n, C, H, W]`, its sample indices, its step) to the loss and the `[n, K]`
    /// logits. The loss is a mean over the batch's images; data-parallel, over this process's
    /// (a term averaging over fewer images reweights itself: `step.wholeBatch`).
    public typealias LossFunction = (_ input: Tensor, _ indices: [Int], _ step: TrainingStep) throws -> (loss: Tensor, logits: Tensor)

    let model: any Classifier
    let trainSet: ImageSet
    let testSet: ImageSet
    let normalization: Normalization
    let config: TrainingConfig
    let folder: RunFolder
    /// How messages and progress bars name this training (`teacher`, `kd`, `fitnet hint`).
    let name: String
    let attributes: [String: AttributeValue]
    /// Compute threads of the kernels while this trains.
    let threads: Int
    /// The epoch's batches; by default every training image, shuffled.
    public var planner: BatchPlanner
    /// The inputs of a batch; by default the training images under random views of `config.augment`.
    public var inputs: ((_ indices: [Int], _ epoch: Int) -> Tensor)?
    /// Further metrics of the epoch just trained (name: value), recorded and printed.
    public var epochMetrics: (() -> [String: Double])?
    /// The teacher's test-set classes: each epoch then also records the agreement with them.
    public var teacherPredictions: [Int]?
    /// Trained along with the model (regressors, connectors, heads); saved under `extra/` in `last.h5`.
    public var extraParameters: [(name: String, tensor: Tensor)] = []
    /// Kept along with the model but not trained (memory banks); saved under `extra/` in `last.h5`.
    public var extraState: [(name: String, tensor: Tensor)] = []
    /// Called after each optimiser step.
    public var afterStep: (() -> Void)?
    /// What identifies the run's settings in its checkpoints (a resumed run must match it); by
    /// default the training configuration.
    public var settingsText: String?
    /// Data-parallel: the processes training this model together, each on its slice of every
    /// batch. Only rank 0 shows progress and writes metrics and checkpoints.
    public var group: (any ProcessGroup)?

    /// Trains `model` into `folder`; `attributes` go into every checkpoint.
    public init(model: any Classifier, trainSet: ImageSet, testSet: ImageSet, normalization: Normalization,
                config: TrainingConfig, folder: RunFolder, name: String, attributes: [String: AttributeValue], threads: Int) {
        self.model = model
        self.trainSet = trainSet
        self.testSet = testSet
        self.normalization = normalization
        self.config = config
        self.folder = folder
        self.name = name
        self.attributes = attributes
        self.threads = threads
        planner = .shuffled(indices: Array(0..<trainSet.count))
    }

    /// The configuration as canonical JSON, stored in checkpoints to detect changes on resume.
    var configText: String {
        if let settingsText { return settingsText }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(config)) ?? Data(), as: UTF8.self)
    }

    /// Trains to `config.epochs`, resuming from `last.h5` when it exists (unless `restart`).
    public func run(restart: Bool = false, loss: LossFunction) throws -> TrainingSummary {
        try ComputeThreads.with(threads) { try train(restart: restart, loss: loss) }
    }

    private func train(restart: Bool, loss: LossFunction) throws -> TrainingSummary {
        try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        let batches = planner.batches(epoch: 1, batchSize: config.batchSize, seed: config.seed).count
        let totalIterations = batches * config.epochs
        let optimizer = SGD(model.namedParameters() + extraParameters, learningRate: config.optimizer.lr, momentum: config.optimizer.momentum,
                            nesterov: config.optimizer.nesterov, weightDecay: config.optimizer.weightDecay,
                            decayNormsAndBiases: config.optimizer.decayNormsAndBiases ?? true)
        var summary = TrainingSummary(bestAccuracy: -1, bestEpoch: 0, lastAccuracy: 0, trainSeconds: 0, imagesPerSecond: 0,
                                      lastAgreement: nil)
        let startEpoch = try resume(restart: restart, optimizer: optimizer, summary: &summary)
        let leads = (group?.rank ?? 0) == 0
        let observers: [TrainingObserver] = !leads ? [] : [
            ProgressDisplay(name: name, epochs: config.epochs), MetricsFiles(folder: folder),
            CheckpointWriter(folder: folder, model: model, optimizer: optimizer, attributes: attributes, settings: configText,
                             extraParameters: extraParameters, extraState: extraState),
        ]
        let trained = model.parameters + extraParameters.map(\.tensor)
        for observer in observers { try observer.trainingStarted(atEpoch: startEpoch, of: config.epochs) }

        for epoch in startEpoch...Swift.max(startEpoch, config.epochs) where epoch <= config.epochs {
            let epochBatches = planner.batches(epoch: epoch, batchSize: config.batchSize, seed: config.seed)
            var augment = SeededGenerator(seed: config.seed &* 1_000_033 &+ UInt64(epoch) &* 7)
            for observer in observers { observer.epochStarted(epoch, images: epochBatches.reduce(0) { $0 + $1.count }) }
            let start = Date()
            var state = BatchEnd(seen: 0, lossSum: 0, correct: 0)
            var ownImages = 0
            model.train(true)
            for (batch, whole) in epochBatches.enumerated() {
                // Alone, the whole batch; data-parallel, this process's slice of it.
                let part = try share(of: whole.count, epoch: epoch, batch: batch)
                let indices = Array(whole[part])
                let input: Tensor
                if let inputs {
                    input = inputs(indices, epoch)
                } else {
                    let views = config.augment == .none ? nil : whole.map { _ in View.random(config.augment, generator: &augment) }
                    input = trainSet.batch(indices, normalization: normalization, views: views.map { Array($0[part]) }, padding: config.augment.cropPadding)
                }
                let step = TrainingStep(epoch: epoch, batch: batch, batches: batches, wholeBatch: whole)
                optimizer.learningRate = config.optimizer.scheduleValue.rate(
                    base: config.optimizer.lr, iteration: step.global, total: totalIterations, iterationsPerEpoch: batches,
                    warmupIterations: Int((config.optimizer.warmupEpochs ?? 0) * Double(batches)))
                optimizer.zeroGrad()
                let (value, logits) = try DataParallel.$group.withValue(group) { try loss(input, indices, step) }
                var correct = zip(argmaxRows(logits.detached), indices).filter { $0 == Int(trainSet.labels[$1]) }.count
                let lossValue: Double
                if let group {
                    // Each process's loss (a mean over its images) is weighted by its share of the
                    // batch, so the summed gradients are the whole batch's; a non-finite loss
                    // anywhere reaches all.
                    let shared = value * (Double(indices.count) / Double(whole.count))
                    shared.backward()
                    let sums = group.sumGradients(of: trained, with: [Float(shared.item), Float(correct)])
                    (lossValue, correct) = (Double(sums[0]), Int(sums[1]))
                } else {
                    lossValue = value.item
                }
                guard lossValue.isFinite else {
                    throw TrainingError(message: "\(name): the loss is \(lossValue) at epoch \(epoch), batch \(batch + 1); "
                                        + (epoch > 1 ? "the last good checkpoint is \(folder.last) (epoch \(epoch - 1))" : "no checkpoint was written"),
                                        epoch: epoch)
                }
                if group == nil { value.backward() }
                if let maxNorm = config.optimizer.clipNorm { clipGradientNorm(trained, maxNorm: maxNorm) }
                optimizer.step()
                afterStep?()
                state.lossSum += lossValue * Double(whole.count)
                state.correct += correct
                state.seen += whole.count
                ownImages += indices.count
                for observer in observers { observer.batchEnded(state) }
            }
            let seconds = Date().timeIntervalSince(start)
            let evaluation = evaluate(model, on: testSet, normalization: normalization, group: group)
            summary.trainSeconds += seconds
            summary.lastAccuracy = evaluation.accuracy
            let isBest = evaluation.accuracy > summary.bestAccuracy
            if isBest { (summary.bestAccuracy, summary.bestEpoch) = (evaluation.accuracy, epoch) }
            let agreement = teacherPredictions.map { teacher in
                Double(zip(evaluation.predictions, teacher).filter { $0 == $1 }.count) / Double(Swift.max(1, teacher.count))
            }
            let record = EpochRecord(epoch: epoch, run: name, trainLoss: state.lossSum / Double(state.seen),
                                     trainAccuracy: Double(state.correct) / Double(state.seen), testLoss: evaluation.loss,
                                     testAccuracy: evaluation.accuracy, perClassAccuracy: evaluation.perClassAccuracy,
                                     learningRate: optimizer.learningRate, seconds: seconds, imagesPerSecond: Double(state.seen) / seconds,
                                     agreement: agreement, extra: epochMetrics.map { groupMeans($0(), images: ownImages) })
            for observer in observers { try observer.evaluated(record, isBest: isBest, summary: summary) }
        }
        guard leads else { return summary }
        let records = try MetricsLog(path: folder.metrics).records()
        summary.lastAgreement = records.last?.agreement
        let images = planner.batches(epoch: 1, batchSize: config.batchSize, seed: config.seed).reduce(0) { $0 + $1.count }
        summary.imagesPerSecond = Double(records.count * images) / Swift.max(summary.trainSeconds, 1e-9)
        return summary
    }

    /// The part of a batch of `count` images this process trains: all of it alone, its slice
    /// when data-parallel (a batch smaller than the group cannot be split).
    private func share(of count: Int, epoch: Int, batch: Int) throws -> Range<Int> {
        guard let group else { return 0..<count }
        guard count >= group.size else {
            throw TrainingError(message: "\(name): batch \(batch + 1) of epoch \(epoch) has \(count) images, fewer than the \(group.size) "
                                + "data-parallel processes; use fewer processes or a larger batch", epoch: epoch)
        }
        return group.slice(of: count)
    }

    /// Epoch metrics (means over this process's `images`) as means over the whole group's images.
    private func groupMeans(_ metrics: [String: Double], images: Int) -> [String: Double] {
        guard let group else { return metrics }
        let keys = metrics.keys.sorted()
        let sums = group.summed(keys.map { metrics[$0]! * Double(images) } + [Double(images)])
        return Dictionary(uniqueKeysWithValues: zip(keys, sums.map { $0 / Swift.max(1, sums.last!) }))
    }

    /// Loads `last.h5` (weights, what trains along, momentum, the summary so far) unless
    /// `restart` or there is none; returns the first epoch to train. A checkpoint of other
    /// settings is refused, saying which differ.
    private func resume(restart: Bool, optimizer: SGD, summary: inout TrainingSummary) throws -> Int {
        guard !restart, FileManager.default.fileExists(atPath: folder.last) else { return 1 }
        let saved = try Checkpoint.load(folder.last, into: model)
        guard saved["training_config"]?.stringValue == configText else {
            let difference = settingsDifference(saved: saved["training_config"]?.stringValue ?? "", current: configText)
            throw TrainingError(message: "\(folder.last) was trained with other settings (\(difference)): pass --restart to train it again, or remove \(folder.path)")
        }
        try Checkpoint.loadExtra(folder.last, into: extraParameters + extraState)
        if let momentum = try Checkpoint.momentum(folder.last, for: model, extra: extraParameters) { optimizer.setVelocities(momentum) }
        let epoch = Int(saved["epoch"]?.intValue ?? 0)
        summary.bestAccuracy = saved["best_test_accuracy"]?.doubleValue ?? -1
        summary.bestEpoch = Int(saved["best_epoch"]?.intValue ?? 0)
        summary.lastAccuracy = saved["test_accuracy"]?.doubleValue ?? 0
        summary.trainSeconds = saved["train_seconds"]?.doubleValue ?? 0
        if epoch < config.epochs, (group?.rank ?? 0) == 0 { print("\(name): resuming after epoch \(epoch) from \(folder.last)") }
        return epoch + 1
    }
}
