// Model checkpoints in HDF5: one dataset per state_dict entry, named and shaped as PyTorch's
// (`layer1.0.conv1.weight [out,in,kh,kw]`), so `torch.load_state_dict` takes them after a few
// lines of h5py (scripts/load_checkpoint_in_pytorch.py). Optimiser state lives in the group
// `optimizer/`, which a PyTorch loader skips. `.safetensors` files (SafeTensors.swift) load too.
import Foundation
import HDF5
import NN
import Tensor

/// Why a checkpoint does not fit a model: the file, and the first problem found.
public struct CheckpointError: Error, CustomStringConvertible {
    /// The checkpoint's path.
    public let file: String
    /// The first mismatch or problem found.
    public let message: String
    /// An error about the checkpoint `file`.
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// Saving and loading model state.
public enum Checkpoint {
    /// Writes `model`'s state_dict and `attributes` (plus `arch` and `format`) to `path`,
    /// atomically; tensors trained along with the model (connectors) and kept with it (`state`:
    /// memory banks) go to `extra/`, `momentum` (one tensor per parameter of the model, then per
    /// extra tensor) to `optimizer/`.
    public static func save(_ model: any Classifier, to path: String, attributes: [String: AttributeValue] = [:],
                            extra: [(name: String, tensor: Tensor)] = [], state: [(name: String, tensor: Tensor)] = [],
                            momentum: [Tensor]? = nil) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try HDF5File.write(atomicallyTo: path) { file in
            for (name, tensor) in model.stateDict() {
                try write(tensor, named: name, in: file)
            }
            for (name, tensor) in extra + state { try write(tensor, named: "extra/" + name, in: file) }
            if let momentum {
                let names = trainedTensors(model, extra).map(\.name)
                precondition(names.count == momentum.count, "\(momentum.count) momentum buffers for \(names.count) parameters")
                for (name, tensor) in zip(names, momentum) { try write(tensor, named: "optimizer/momentum_buffer/" + name, in: file) }
            }
            try file.setAttribute("arch", model.arch)
            try file.setAttribute("format", "kd checkpoint: PyTorch state_dict names and shapes")
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, value) }
        }
    }

    private static func write(_ tensor: Tensor, named name: String, in file: HDF5File) throws {
        if name.hasSuffix("num_batches_tracked") {
            try file.createDataset(name, values: [Int64(tensor.item.rounded())], shape: [])
        } else {
            try file.createDataset(name, values: tensor.scalars, shape: tensor.shape)
        }
    }

    /// Loads `path` into `model`: the architecture and every name and shape must match (the first
    /// mismatch is the error), as PyTorch's strict `load_state_dict`. Returns the file's root
    /// attributes. A path ending in `.safetensors` is read as safetensors, with its metadata as the
    /// attributes (see `attributes(_:)`).
    @discardableResult
    public static func load(_ path: String, into model: any Classifier) throws -> [String: AttributeValue] {
        if isSafeTensors(path) { return try loadSafeTensors(path, into: model) }
        let file = try HDF5File.open(path)
        let attributes = Dictionary(uniqueKeysWithValues: try file.attributes().map { ($0.name, $0.value) })
        let stored = Set(try file.walk().compactMap { entry -> String? in
            guard case .dataset = entry.kind, !entry.path.hasPrefix("/optimizer/"), !entry.path.hasPrefix("/extra/") else { return nil }
            return String(entry.path.dropFirst())
        })
        try check(path, arch: attributes["arch"]?.stringValue, stored: stored, against: model) { try file.info($0).shape }
        for (name, tensor) in model.stateDict() {
            try tensor.assign(read(name, from: file, dtype: tensor.dtype))
        }
        return attributes
    }

    /// Loads the safetensors file `path` into `model`, as strictly as an HDF5 checkpoint.
    private static func loadSafeTensors(_ path: String, into model: any Classifier) throws -> [String: AttributeValue] {
        let file = try SafeTensorsFile(path: path)
        let attributes = try file.attributes()
        try check(path, arch: attributes["arch"]?.stringValue, stored: Set(file.entries.keys), against: model) { file.entries[$0]!.shape }
        for (name, tensor) in model.stateDict() {
            try tensor.assign(file.tensor(name, dtype: tensor.dtype))
        }
        return attributes
    }

    /// Checks a checkpoint holding the tensors `stored` (with `shape(name)`) against `model`: the
    /// same `arch` when the file names one, no name missing, none unexpected, every shape equal.
    private static func check(_ path: String, arch: String?, stored: Set<String>, against model: any Classifier,
                              shape: (String) throws -> [Int]) throws {
        if let arch, arch != model.arch {
            throw CheckpointError(file: path, message: "holds a \(arch), not a \(model.arch)")
        }
        let expected = model.stateDict()
        if let missing = expected.first(where: { !stored.contains($0.name) }) {
            throw CheckpointError(file: path, message: "has no '\(missing.name)' (expected by \(model.arch))")
        }
        if let extra = stored.subtracting(expected.map(\.name)).sorted().first {
            throw CheckpointError(file: path, message: "has '\(extra)', which \(model.arch) does not have")
        }
        for (name, tensor) in expected {
            let found = try shape(name)
            guard found == tensor.shape else {
                throw CheckpointError(file: path, message: "'\(name)' has shape \(found), \(model.arch) expects \(tensor.shape)")
            }
        }
    }

    /// The attributes of the checkpoint `path`, of either format: an HDF5 file's root attributes,
    /// or a safetensors file's metadata (`arch` a string, `classes` comma-separated strings,
    /// `input_mean`/`input_std` comma-separated doubles, `num_classes` an integer, others strings).
    /// When `num_classes` is absent but `classes` present, `num_classes` is the number of classes.
    public static func attributes(_ path: String) throws -> [String: AttributeValue] {
        if isSafeTensors(path) { return try SafeTensorsFile(path: path).attributes() }
        var attributes = Dictionary(uniqueKeysWithValues: try HDF5File.open(path).attributes().map { ($0.name, $0.value) })
        if attributes["num_classes"] == nil, let classes = attributes["classes"]?.stringsValue {
            attributes["num_classes"] = .int(Int64(classes.count))
        }
        return attributes
    }

    /// The shape of the state_dict tensor `name` in the checkpoint `path`, of either format.
    public static func tensorShape(_ name: String, in path: String) throws -> [Int] {
        if isSafeTensors(path) {
            guard let entry = try SafeTensorsFile(path: path).entries[name] else { throw CheckpointError(file: path, message: "has no '\(name)'") }
            return entry.shape
        }
        return try HDF5File.open(path).info(name).shape
    }

    /// Whether `path` names a safetensors file (by its extension).
    private static func isSafeTensors(_ path: String) -> Bool {
        (path as NSString).pathExtension.lowercased() == "safetensors"
    }

    /// Loads the `extra/` tensors saved with a checkpoint into `extra`, each by name and shape.
    public static func loadExtra(_ path: String, into extra: [(name: String, tensor: Tensor)]) throws {
        let file = try HDF5File.open(path)
        for (name, tensor) in extra {
            guard try file.contains("extra/" + name) else { throw CheckpointError(file: path, message: "has no 'extra/\(name)'") }
            let saved = try read("extra/" + name, from: file, dtype: tensor.dtype)
            guard saved.shape == tensor.shape else {
                throw CheckpointError(file: path, message: "'extra/\(name)' has shape \(saved.shape), expected \(tensor.shape)")
            }
            tensor.assign(saved)
        }
    }

    /// The momentum buffers saved with a checkpoint, one per parameter of `model` and then per
    /// extra tensor, or nil.
    public static func momentum(_ path: String, for model: any Classifier, extra: [(name: String, tensor: Tensor)] = []) throws -> [Tensor]? {
        let file = try HDF5File.open(path)
        guard try file.contains("optimizer/momentum_buffer") else { return nil }
        return try trainedTensors(model, extra).map { name, tensor in
            try read("optimizer/momentum_buffer/" + name, from: file, dtype: tensor.dtype)
        }
    }

    /// The model's parameters and the extra tensors under their checkpoint names, in optimiser order.
    private static func trainedTensors(_ model: any Classifier, _ extra: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
        model.namedParameters() + extra.map { ("extra/" + $0.name, $0.tensor) }
    }

    /// Dataset `name` of `file` as a tensor of `dtype` (integer datasets are converted).
    public static func read(_ name: String, from file: HDF5File, dtype: DType = .float32) throws -> Tensor {
        let info = try file.info(name)
        let values: [Double] = info.elementType?.isFloat == false
            ? try file.dataset(name, as: Int64.self).read().map(Double.init)
            : try file.dataset(name, as: Double.self).read()
        let tensor = Tensor(shape: info.shape, doubles: values)
        return dtype == .float64 ? tensor : tensor.converted(to: dtype)
    }
}
