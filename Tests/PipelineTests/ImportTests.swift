// A teacher from elsewhere: a kd teacher's weights written as a bare safetensors file (no
// metadata, as PyTorch's save_file writes a state_dict), imported with the facts it lacks, gives
// the same accuracy as the original, and a pipeline can name the safetensors file directly.
import Checkpoints
import Datasets
import Foundation
import HDF5
import NN
import Pipeline
import Testing
import TestSupport

/// Writes `tensors` as a safetensors file of float32 tensors with no metadata.
func writeSafeTensors(_ tensors: [(name: String, shape: [Int], values: [Float])], to path: String) throws {
    var header: [String: Any] = [:], data = Data()
    for tensor in tensors {
        header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [data.count, data.count + 4 * tensor.values.count]]
        tensor.values.withUnsafeBytes { data.append(contentsOf: $0) }
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var length = UInt64(json.count).littleEndian
    try (Data(bytes: &length, count: 8) + json + data).write(to: URL(fileURLWithPath: path))
}

@Suite(.serialized) struct ImportTests {
    @Test func aBareSafetensorsTeacherImportsEvaluatesAndTeachesLikeTheOriginal() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}")
        #expect(try tiny.teacher().status == 0)
        let original = tiny.teacherDirectory + "/last.h5"
        let model = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 9)
        try Checkpoint.load(original, into: model)
        let bare = tiny.folder.file("teacher.safetensors")
        try writeSafeTensors(model.stateDict().map { ($0.name, $0.tensor.shape, $0.tensor.scalars) }, to: bare)

        // kd eval of the bare file names every fact it lacks; given them, it equals the original's.
        let test = tiny.folder.file("test.h5")
        let refused = try run(tiny.kd, ["eval", "--checkpoint", bare, "--data", test])
        #expect(refused.status != 0 && refused.error.contains(bare) && refused.error.contains("arch, num_classes or classes, input_mean, input_std"),
                "\(refused.error)")
        let facts = ["--arch", "mnist_student", "--classes", try openImageSource(test).classNames.joined(separator: ","), "--mean", "0.286", "--std", "0.353"]
        let evaluatedBare = try run(tiny.kd, ["eval", "--checkpoint", bare, "--data", test] + facts)
        let evaluatedOriginal = try run(tiny.kd, ["eval", "--checkpoint", original, "--data", test])
        #expect(evaluatedBare.status == 0 && evaluatedOriginal.status == 0, "\(evaluatedBare.error)")
        func accuracy(_ output: String) -> String { output.components(separatedBy: ": top-1").last ?? "" }
        #expect(!accuracy(evaluatedOriginal.output).isEmpty && accuracy(evaluatedBare.output) == accuracy(evaluatedOriginal.output))

        // kd import-checkpoint writes a kd checkpoint with the same weights and the facts as attributes.
        let imported = tiny.folder.file("imported.h5")
        let result = try run(tiny.kd, ["import-checkpoint", bare, "--output", imported, "--image-size", "28"] + facts)
        #expect(result.status == 0 && result.output.contains("a mnist_student"), "\(result.error)")
        let file = try HDF5File.open(imported)
        #expect(try file.attribute("arch").stringValue == "mnist_student" && file.attribute("input_std").doublesValue == [0.353])
        #expect(try file.attribute("classes").stringsValue == openImageSource(test).classNames)
        #expect(try file.dataset("fc2.weight", as: Float.self).read() == HDF5File.open(original).dataset("fc2.weight", as: Float.self).read())
        // A wrong image size is named with the option that sets it.
        let wrongSize = try run(tiny.kd, ["import-checkpoint", bare, "--output", tiny.folder.file("x.h5")] + facts)
        #expect(wrongSize.status != 0 && wrongSize.error.contains("fc1.weight") && wrongSize.error.contains("--image-size"), "\(wrongSize.error)")

        // A pipeline names the bare file: the architecture and normalisation come from the pipeline,
        // and the cache's logits are those of the original checkpoint.
        #expect(try tiny.precompute().status == 0)
        let fromOriginal = try HDF5File.open(tiny.cachePath).dataset("logits", as: Float.self).read()
        TinyPipeline.replacingCache(in: tiny, with: "cache: {batch_size: 64, teacher_checkpoint: \(bare)}")
        let precomputed = try tiny.precompute(["--force"])
        #expect(precomputed.status == 0, "\(precomputed.error)")
        #expect(try HDF5File.open(tiny.cachePath).dataset("logits", as: Float.self).read() == fromOriginal)
        #expect(try run(tiny.kd, ["verify-cache", tiny.cachePath]).status == 0)
        // The report measures the imported teacher's accuracy (its file records none): the original's.
        let report = try run(tiny.kd, ["report", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        let recorded = try HDF5File.open(original).attribute("test_accuracy").doubleValue!
        #expect(report.status == 0 && report.output.contains("| teacher | - | mnist_student | 75338 | 1.57 | 200 | 1 | " + String(format: "%.2f", 100 * recorded)),
                "\(report.output) \(report.error)")
        let teacherRow = report.output.split(separator: "\n").first { $0.hasPrefix("| teacher |") } ?? ""
        #expect(teacherRow.hasSuffix("| - | - | - | - | - |"), "the imported teacher has no training time: \(teacherRow)")
    }
}

extension ImportTests {
    /// A teacher given by path needs only `teacher.arch`; `kd teacher` trains nothing and checks the
    /// file against it, while an architecture alone, with no file to teach, is refused.
    @Test func aGivenTeacherNeedsOnlyItsArchitecture() throws {
        let tiny = try TinyPipeline(trainCount: 64, testCount: 32)
        let model = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 2)
        let given = tiny.folder.file("given.safetensors")
        try writeSafeTensors(model.stateDict().map { ($0.name, $0.tensor.shape, $0.tensor.scalars) }, to: given)
        func pipeline(teacher: String, cache: String) throws -> ProcessResult {
            try """
                name: tiny
                data: {train: \(tiny.folder.file("train.h5")), test: \(tiny.folder.file("test.h5")), mean: [0.286], std: [0.353]}
                teacher: \(teacher)
                cache: \(cache)
                """.write(toFile: tiny.folder.file("tiny.yaml"), atomically: true, encoding: .utf8)
            return try tiny.teacher()
        }
        let trained = try pipeline(teacher: "{arch: mnist_student}", cache: "{teacher_checkpoint: \(given)}")
        #expect(trained.status == 0 && trained.output.contains("nothing to train"), "\(trained.output) \(trained.error)")
        #expect(!FileManager.default.fileExists(atPath: tiny.teacherDirectory + "/last.h5"))
        let wrongArch = try pipeline(teacher: "{arch: mnist_teacher}", cache: "{teacher_checkpoint: \(given)}")
        #expect(wrongArch.status != 0 && wrongArch.error.contains(given), "\(wrongArch.error)")
        let nothing = try pipeline(teacher: "{arch: mnist_student}", cache: "{teacher_checkpoint: last}")
        #expect(nothing.status != 0 && nothing.error.contains("teacher has only arch"), "\(nothing.error)")
        let partial = try pipeline(teacher: "{arch: mnist_student, epochs: 2}", cache: "{teacher_checkpoint: last}")
        #expect(partial.status != 0 && partial.error.contains("batch_size"), "\(partial.error)")
    }
}

let torchAvailable: Bool = {
    guard let python = which("python3") else { return false }
    return (try? run(python, ["-c", "import torch, h5py"]).status) == 0
}()

@Suite struct PyTorchImportTests {
    /// A state_dict saved by torch in each common wrapper, imported by scripts/import_pytorch.py,
    /// loads into the zoo's model with every tensor unchanged.
    @Test(.enabled(if: torchAvailable, "needs python3 with torch and h5py (pip install torch h5py); import_pytorch.py not tested"))
    func everyWrapperImports() throws {
        let folder = TemporaryFolder("kd-import-pytorch")
        let model = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 5)
        try Checkpoint.save(model, to: folder.file("original.h5"))
        let script = """
            import sys, h5py, torch
            folder = sys.argv[1]
            with h5py.File(folder + "/original.h5", "r") as f:
                sd = {n: torch.from_numpy(f[n][()]) for n in f if isinstance(f[n], h5py.Dataset)}
            torch.save(sd, folder + "/plain.pth")
            torch.save({"model": sd, "epoch": 240, "accuracy": 79.4}, folder + "/repdistiller.pth")
            torch.save({"state_dict": sd, "optimizer": {"lr": 0.1}}, folder + "/state_dict.pth")
            torch.save({"module." + n: t for n, t in sd.items()}, folder + "/dataparallel.pth")
            """
        let saved = try run(which("python3")!, ["-c", script, folder.path])
        #expect(saved.status == 0, "\(saved.error)")
        let importer = Repository.root + "/scripts/import_pytorch.py"
        for wrapper in ["plain", "repdistiller", "state_dict", "dataparallel"] {
            let output = folder.file(wrapper + ".safetensors")
            let imported = try run(which("python3")!, [importer, folder.file(wrapper + ".pth"), "--output", output, "--arch", "mnist_student",
                                                       "--mean", "0.286", "--std", "0.353"])
            #expect(imported.status == 0, "\(wrapper): \(imported.error)")
            let loaded = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 6)
            let attributes = try Checkpoint.load(output, into: loaded)
            #expect(attributes["arch"]?.stringValue == "mnist_student" && attributes["input_std"]?.doublesValue == [0.353], "\(wrapper)")
            #expect(zip(loaded.stateDict(), model.stateDict()).allSatisfy { $0.tensor.scalars == $1.tensor.scalars }, "\(wrapper): weights differ")
        }
        // Something that is not a checkpoint is one line naming it.
        try Data("not a pickle".utf8).write(to: URL(fileURLWithPath: folder.file("bad.pth")))
        let bad = try run(which("python3")!, [importer, folder.file("bad.pth"), "--output", folder.file("bad.safetensors")])
        #expect(bad.status != 0 && bad.error.contains("bad.pth") && bad.error.split(separator: "\n").count == 1, "\(bad.error)")
    }
}
