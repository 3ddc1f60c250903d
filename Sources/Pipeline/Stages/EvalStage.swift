// `kd eval`: a checkpoint on a labelled image source, with accuracy per class.
import Checkpoints
import Foundation
import NN

/// Evaluates checkpoints written by this pipeline (or converted from PyTorch with the same names).
public enum EvalStage {
    /// Loads `checkpoint` (HDF5 or safetensors; its `arch`, `num_classes`, `input_mean` and
    /// `input_std`, or `fallback`'s where it lacks them) and evaluates it on `data`. Returns the
    /// evaluation and a printable report.
    public static func run(checkpoint: String, data: String, fallback: CheckpointFallback = CheckpointFallback()) throws -> (Evaluation, String) {
        let header = try CheckpointHeader(path: checkpoint, fallback: fallback)
        let set = try ImageSet(path: data)
        let model = try Models.make(header.arch, classes: header.classCount, inChannels: set.channels, imageSize: set.height, seed: 0)
        try Checkpoint.load(checkpoint, into: model)
        let evaluation = evaluate(model, on: set, normalization: header.normalization)
        var lines = [String(format: "%@ on %@: top-1 accuracy %.2f%% (%d images), mean loss %.4f",
                            checkpoint, data, 100 * evaluation.accuracy, set.count, evaluation.loss)]
        let width = set.classNames.map(\.count).max() ?? 5
        for (name, accuracy) in zip(set.classNames, evaluation.perClassAccuracy) {
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %6.2f%%", 100 * accuracy))
        }
        return (evaluation, lines.joined(separator: "\n"))
    }
}
