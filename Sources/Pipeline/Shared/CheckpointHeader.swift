// What a classifier checkpoint says about itself: the attributes every stage that loads one reads
// (the teacher for precompute, verify-cache and distill; any checkpoint for kd eval and
// kd import-checkpoint), from an HDF5 checkpoint's attributes or a safetensors file's metadata,
// with what the file lacks taken from the pipeline or the command line.
import Checkpoints
import HDF5

/// What to use where a checkpoint lacks an attribute (a safetensors file from elsewhere often has
/// no metadata): from the command line (`--arch`, `--classes`, `--mean`, `--std`) or the pipeline.
public struct CheckpointFallback: Sendable {
    /// The zoo's architecture name.
    public var arch: String?
    /// Class names in label order.
    public var classes: [String]?
    /// Per-channel input mean of pixels scaled to [0, 1].
    public var mean: [Double]?
    /// Per-channel input standard deviation.
    public var std: [Double]?

    /// Values for whatever a checkpoint does not say.
    public init(arch: String? = nil, classes: [String]? = nil, mean: [Double]? = nil, std: [Double]? = nil) {
        (self.arch, self.classes, self.mean, self.std) = (arch, classes, mean, std)
    }
}

/// The root attributes of a checkpoint: architecture, classes and input normalisation.
struct CheckpointHeader {
    /// The zoo's architecture name (`mnist_teacher`, `resnet8x4`).
    let arch: String
    /// Outputs of the classifier.
    let classCount: Int
    /// Class names in label order, when the checkpoint (or the fallback) records them.
    let classes: [String]?
    /// Per-channel input normalisation the model was trained with.
    let normalization: Normalization

    /// Reads the header of the checkpoint `path`, filling what it lacks from `fallback`; still
    /// missing values are one error naming them and how to give them.
    init(path: String, fallback: CheckpointFallback = CheckpointFallback()) throws {
        let attributes = try Checkpoint.attributes(path)
        let classes = attributes["classes"]?.stringsValue.flatMap { $0.isEmpty ? nil : $0 } ?? fallback.classes
        let arch = attributes["arch"]?.stringValue ?? fallback.arch
        let count = attributes["num_classes"]?.intValue.map(Int.init) ?? classes?.count
        let mean = attributes["input_mean"]?.doublesValue ?? fallback.mean, std = attributes["input_std"]?.doublesValue ?? fallback.std
        guard let arch, let count, let mean, let std else {
            let missing = [("arch", arch == nil), ("num_classes or classes", count == nil), ("input_mean", mean == nil), ("input_std", std == nil)]
                .filter(\.1).map(\.0)
            throw CheckpointError(file: path, message: "does not say its \(missing.joined(separator: ", ")): give them as attributes or "
                                  + "safetensors metadata, or on the command line (--arch, --classes, --mean, --std)")
        }
        self.arch = arch
        classCount = count
        self.classes = classes
        normalization = Normalization(mean: mean, std: std)
    }
}
