// The training loop's named events and the observers that act on them: the progress bar, the
// metrics file with its TensorBoard twin, and the checkpoints. The loop itself only trains and
// evaluates; what is shown and written hangs off these events.
import Checkpoints
import Foundation
import HDF5
import NN
import Optimizers
import Tensor

/// Where training stands after a batch.
public struct BatchEnd: Sendable {
    /// Images trained on this epoch so far, and the running sums over them.
    public var seen: Int
    /// The sum of batch loss times batch size.
    public var lossSum: Double
    /// Training images classified as their label.
    public var correct: Int
}

/// Something that acts on the training loop's events; every method does nothing by default.
public protocol TrainingObserver: AnyObject {
    /// Training starts at `epoch` (after `epoch - 1` resumed ones) of `epochs`.
    func trainingStarted(atEpoch epoch: Int, of epochs: Int) throws
    /// An epoch of `images` images begins.
    func epochStarted(_ epoch: Int, images: Int)
    /// A batch has been trained on.
    func batchEnded(_ state: BatchEnd)
    /// The epoch has been evaluated on the test set: its record, and whether it is the best so far.
    func evaluated(_ record: EpochRecord, isBest: Bool, summary: TrainingSummary) throws
}

extension TrainingObserver {
    /// Does nothing by default.
    public func trainingStarted(atEpoch epoch: Int, of epochs: Int) throws {}
    /// Does nothing by default.
    public func epochStarted(_ epoch: Int, images: Int) {}
    /// Does nothing by default.
    public func batchEnded(_ state: BatchEnd) {}
    /// Does nothing by default.
    public func evaluated(_ record: EpochRecord, isBest: Bool, summary: TrainingSummary) throws {}
}

/// The progress bar of each epoch, with the running loss and accuracy, then the test accuracy
/// and the epoch's further metrics.
final class ProgressDisplay: TrainingObserver {
    let name: String
    let epochs: Int
    private var bar: ProgressBar?

    init(name: String, epochs: Int) {
        self.name = name
        self.epochs = epochs
    }

    func epochStarted(_ epoch: Int, images: Int) { bar = ProgressBar("\(name) epoch \(epoch)/\(epochs)", total: images) }

    func batchEnded(_ state: BatchEnd) {
        bar?.update(state.seen, extra: String(format: "loss %.4f acc %.2f%%", state.lossSum / Double(state.seen), 100 * Double(state.correct) / Double(state.seen)))
    }

    func evaluated(_ record: EpochRecord, isBest: Bool, summary: TrainingSummary) throws {
        bar?.finish(extra: String(format: "loss %.4f acc %.2f%% | test acc %.2f%%", record.trainLoss, 100 * record.trainAccuracy, 100 * record.testAccuracy))
        if let extra = record.extra, !extra.isEmpty {
            print("\(name) epoch \(record.epoch): " + extra.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f%%", $0.key, 100 * $0.value) }.joined(separator: ", "))
        }
    }
}

/// `metrics.jsonl` (one record per epoch, cut back to the resumed epoch) and the TensorBoard
/// event file rebuilt from it, so a resumed run never repeats a step.
final class MetricsFiles: TrainingObserver {
    let folder: RunFolder
    var log: MetricsLog { MetricsLog(path: folder.metrics) }

    init(folder: RunFolder) { self.folder = folder }

    func trainingStarted(atEpoch epoch: Int, of epochs: Int) throws {
        if epoch > 1 { try log.truncate(to: epoch - 1) } else { try? FileManager.default.removeItem(atPath: folder.metrics) }
    }

    func evaluated(_ record: EpochRecord, isBest: Bool, summary: TrainingSummary) throws {
        try log.append(record)
        try TensorBoardLog.write(try log.records(), to: folder.events)
    }
}

/// `last.h5` after every epoch (with momentum and what trains or is kept along, for an exact
/// resume) and `best.h5` when the test accuracy improves.
final class CheckpointWriter: TrainingObserver {
    let folder: RunFolder
    let model: any Classifier
    let optimizer: SGD
    let attributes: [String: AttributeValue]
    let settings: String
    let extraParameters: [(name: String, tensor: Tensor)]
    let extraState: [(name: String, tensor: Tensor)]

    init(folder: RunFolder, model: any Classifier, optimizer: SGD, attributes: [String: AttributeValue], settings: String,
         extraParameters: [(name: String, tensor: Tensor)], extraState: [(name: String, tensor: Tensor)]) {
        (self.folder, self.model, self.optimizer, self.attributes, self.settings) = (folder, model, optimizer, attributes, settings)
        (self.extraParameters, self.extraState) = (extraParameters, extraState)
    }

    func evaluated(_ record: EpochRecord, isBest: Bool, summary: TrainingSummary) throws {
        var state = attributes
        state["epoch"] = .int(Int64(record.epoch))
        state["test_accuracy"] = .double(record.testAccuracy)
        state["best_test_accuracy"] = .double(summary.bestAccuracy)
        state["best_epoch"] = .int(Int64(summary.bestEpoch))
        state["train_seconds"] = .double(summary.trainSeconds)
        state["training_config"] = .string(settings)
        if isBest { try Checkpoint.save(model, to: folder.best, attributes: state) }
        try Checkpoint.save(model, to: folder.last, attributes: state, extra: extraParameters, state: extraState, momentum: optimizer.velocities)
    }
}
