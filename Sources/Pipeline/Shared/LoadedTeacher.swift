// A teacher checkpoint loaded for the cache, with what its attributes say about inputs and
// classes, and every misfit with the images named: used by precompute, verify-cache and distill.
import Checkpoints
import Datasets
import Foundation
import Hashing
import NN

/// The teacher a cache is made from, with what its checkpoint says about inputs.
struct LoadedTeacher {
    let path: String
    let model: any Classifier
    let normalization: Normalization
    let sha256: String

    /// Loads `path` for images of `source`'s shape, with errors that name the file and the misfit:
    /// another architecture than `arch` (when given), other classes than the images' (names and
    /// order), weights of another shape. A checkpoint that does not name its architecture or input
    /// normalisation (a safetensors file without metadata) takes `arch` and `normalization`, and
    /// one that lists no classes is taken to use the images' classes.
    init(path: String, source: any ImageSource, arch expectedArch: String? = nil, normalization fallback: Normalization? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: path, message: "no teacher checkpoint here: train it first (kd teacher / make teacher)")
        }
        // A checkpoint that lists no classes is taken to use the images' (its output count still has to fit).
        let header = try CheckpointHeader(path: path, fallback: .init(arch: expectedArch, classes: source.classNames,
                                                                      mean: fallback?.mean, std: fallback?.std))
        let (arch, classCount, mean) = (header.arch, header.classCount, header.normalization.mean)
        if let expectedArch, expectedArch != arch {
            throw CheckpointError(file: path, message: "holds a \(arch), but the pipeline's teacher.arch is \(expectedArch): point cache.teacher_checkpoint at a \(expectedArch) or set teacher.arch: \(arch)")
        }
        // Every model of the zoo starts with `conv1`.
        let inChannels = try Checkpoint.tensorShape("conv1.weight", in: path)[1]
        guard inChannels == source.channels else {
            throw DatasetError(source.path, "images have \(source.channels) channel(s); the teacher \(path) (\(arch)) takes \(inChannels)")
        }
        guard mean.count == source.channels else {
            throw CheckpointError(file: path, message: "input_mean has \(mean.count) values for \(source.channels) channel(s)")
        }
        try Self.checkClasses(teacher: header.classes, count: classCount, path: path, source: source)
        let model = try Models.make(arch, classes: classCount, inChannels: source.channels, imageSize: source.height, seed: 0)
        do { try Checkpoint.load(path, into: model) } catch let error as CheckpointError {
            throw CheckpointError(file: path, message: "\(error.message) (a \(arch) for \(source.height)x\(source.width)x\(source.channels) images of \(classCount) classes, the images of \(source.path)): the checkpoint was made for other images or is another model")
        }
        model.train(false)
        self.path = path
        self.model = model
        normalization = header.normalization
        sha256 = try SHA256.file(path)
    }

    /// The images' classes must be the teacher's, name by name in label order, or its outputs
    /// would mean other classes than the labels (a count alone cannot tell).
    static func checkClasses(teacher: [String]?, count: Int, path: String, source: any ImageSource) throws {
        guard source.classNames.count == count else {
            throw DatasetError(source.path, "\(source.classNames.count) classes; the teacher \(path) has \(count)")
        }
        guard let teacher, teacher != source.classNames else { return }
        let hint = Set(teacher) == Set(source.classNames)
            ? "the same names in another order: a PNG folder's classes.txt sets the order (one class per line, the teacher's order), then import it again"
            : "other names: list them in a PNG folder's classes.txt as <folder><TAB><teacher's name>, in the teacher's order"
        throw DatasetError(source.path, "classes [\(source.classNames.joined(separator: ", "))] are not the teacher's [\(teacher.joined(separator: ", "))] (\(path)): \(hint)")
    }
}

