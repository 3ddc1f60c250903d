// `kd import-checkpoint`: a teacher trained elsewhere (a safetensors file, or an HDF5 state_dict)
// checked against the zoo's model and written as the pipeline's own HDF5 checkpoint, with the
// attributes (architecture, classes, normalisation) every later stage reads.
import Checkpoints
import Foundation
import HDF5
import NN

/// Brings a checkpoint from another framework into the pipeline's format.
public enum ImportCheckpointStage {
    /// Loads `path` into the zoo's model it names (or `fallback.arch`), strictly (every tensor
    /// name and shape), for `[N, C, imageSize, imageSize]` inputs (C from `conv1.weight`), and
    /// writes it to `output` atomically. Returns a one-line summary.
    public static func run(_ path: String, output: String, imageSize: Int, fallback: CheckpointFallback) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError(file: path, message: "no such file") }
        let header = try CheckpointHeader(path: path, fallback: fallback)
        if let classes = header.classes, classes.count != header.classCount {
            throw CheckpointError(file: path, message: "names \(classes.count) classes but has \(header.classCount) outputs")
        }
        let inChannels = try Checkpoint.tensorShape("conv1.weight", in: path)[1]
        guard header.normalization.mean.count == inChannels, header.normalization.std.count == inChannels else {
            throw CheckpointError(file: path, message: "takes \(inChannels)-channel images, but input_mean/input_std have "
                                  + "\(header.normalization.mean.count)/\(header.normalization.std.count) values")
        }
        let model = try Models.make(header.arch, classes: header.classCount, inChannels: inChannels, imageSize: imageSize, seed: 0)
        do { try Checkpoint.load(path, into: model) } catch let error as CheckpointError {
            throw CheckpointError(file: path, message: "\(error.message) (as a \(header.arch) of \(header.classCount) classes for "
                                  + "\(imageSize)x\(imageSize) images; --image-size sets the size it was trained on)")
        }
        var attributes: [String: AttributeValue] = [
            "num_classes": .int(Int64(header.classCount)), "input_mean": .doubles(header.normalization.mean),
            "input_std": .doubles(header.normalization.std), "imported_from": .string(absolutePath(path)),
        ]
        if let classes = header.classes { attributes["classes"] = .strings(classes) }
        try Checkpoint.save(model, to: output, attributes: attributes)
        return "\(path) -> \(output): a \(header.arch) (\(model.parameterCount) parameters, \(header.classCount) classes"
            + (header.classes.map { ": " + $0.joined(separator: ", ") } ?? "") + ")"
    }
}
