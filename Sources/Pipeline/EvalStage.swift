// `kd eval`: a checkpoint on a labelled image source, with accuracy per class.
import Checkpoints
import Foundation
import HDF5
import NN

/// Evaluates checkpoints written by this pipeline (or converted from PyTorch with the same names).
public enum EvalStage {
    /// Loads `checkpoint` (its `arch`, `num_classes`, `input_mean` and `input_std` attributes) and
    /// evaluates it on `data`. Returns the evaluation and a printable report.
    public static func run(checkpoint: String, data: String) throws -> (Evaluation, String) {
        let file = try HDF5File.open(checkpoint)
        guard let arch = try file.attribute("arch").stringValue,
              let classes = try file.attribute("num_classes").intValue,
              let mean = try file.attribute("input_mean").doublesValue,
              let std = try file.attribute("input_std").doublesValue else {
            throw CheckpointError(file: checkpoint, message: "attributes arch, num_classes, input_mean, input_std are required")
        }
        let set = try ImageSet(path: data)
        let model = try Models.make(arch, classes: Int(classes), inChannels: set.channels, imageSize: set.height, seed: 0)
        try Checkpoint.load(checkpoint, into: model)
        let evaluation = evaluate(model, on: set, normalization: Normalization(mean: mean, std: std))
        var lines = [String(format: "%@ on %@: top-1 accuracy %.2f%% (%d images), mean loss %.4f",
                            checkpoint, data, 100 * evaluation.accuracy, set.count, evaluation.loss)]
        let width = set.classNames.map(\.count).max() ?? 5
        for (name, accuracy) in zip(set.classNames, evaluation.perClassAccuracy) {
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %6.2f%%", 100 * accuracy))
        }
        return (evaluation, lines.joined(separator: "\n"))
    }
}
