// The teacher stage end to end through the `kd` executable on a small real dataset: training,
// metrics, checkpoints, evaluation, resuming after kill -9, refusing a changed configuration.
import Datasets
import Foundation
import HDF5
import Pipeline
import Testing
import TestSupport

/// A few hundred Fashion-MNIST images in packed files, and a pipeline file for them.
struct TinyPipeline {
    let folder = TemporaryFolder("kd-pipeline")
    let kd = Repository.products + "/kd"

    /// Extra YAML appended to the pipeline file (a `cache:` section).
    var extra = ""

    init(trainCount: Int = 600, testCount: Int = 200, epochs: Int = 2, arch: String = "mnist_student", lr: Double = 0.05,
         extra: String = "") throws {
        self.extra = extra
        let train = try openImageSource(Self.fashionMNIST("train"))
        let test = try openImageSource(Self.fashionMNIST("test"))
        try Self.subset(train, count: trainCount, to: folder.file("train.h5"))
        try Self.subset(test, count: testCount, to: folder.file("test.h5"))
        try writeConfig(epochs: epochs, arch: arch, lr: lr)
    }

    func writeConfig(epochs: Int, arch: String = "mnist_student", lr: Double = 0.05) throws {
        let text = """
            name: tiny
            data:
              train: \(folder.file("train.h5"))
              test: \(folder.file("test.h5"))
              mean: [0.286]
              std: [0.353]
            teacher:
              arch: \(arch)
              epochs: \(epochs)
              batch_size: 64
              seed: 3
              optimizer: {lr: \(lr), momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine}
              augment: {crop_padding: 2, flip: true}
            """ + "\n" + extra
        try text.write(toFile: folder.file("tiny.yaml"), atomically: true, encoding: .utf8)
    }

    private static let packing = NSLock()

    /// Fashion-MNIST packed once per test process under the temporary folder (suites run in
    /// parallel, so the first caller packs while the others wait).
    static func fashionMNIST(_ split: String) throws -> String {
        packing.lock()
        defer { packing.unlock() }
        let output = NSTemporaryDirectory() + "kd-fashion-mnist-\(getpid())"
        if !FileManager.default.fileExists(atPath: output + "/test.h5") {
            try DataStage.fashionMNIST(output: output)
        }
        return output + "/\(split).h5"
    }

    static func subset(_ source: any ImageSource, count: Int, to path: String) throws {
        let batch = try source.batch(0..<count)
        let writer = try PackedWriter(path: path, count: count, height: 28, width: 28, channels: 1, classNames: source.classNames)
        try writer.append(pixels: batch.pixels, labels: batch.labels)
        try writer.finish()
    }

    func teacher(_ extra: [String] = []) throws -> ProcessResult {
        try run(kd, ["teacher", "--config", folder.file("tiny.yaml")] + extra, currentDirectory: folder.path)
    }

    var teacherDirectory: String { folder.file("runs/tiny/teacher") }
    var cachePath: String { folder.file("runs/tiny/cache.h5") }

    func precompute(_ extra: [String] = []) throws -> ProcessResult {
        try run(kd, ["precompute", "--config", folder.file("tiny.yaml")] + extra, currentDirectory: folder.path)
    }
}

@Suite(.serialized) struct TeacherTests {
    @Test func trainsWritesMetricsAndCheckpointsAndEvaluates() throws {
        let tiny = try TinyPipeline(epochs: 3)
        let result = try tiny.teacher()
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("teacher epoch 3/3"))
        let records = try MetricsLog(path: tiny.teacherDirectory + "/metrics.jsonl").records()
        #expect(records.map(\.epoch) == [1, 2, 3])
        #expect(records.last!.trainLoss < records.first!.trainLoss)
        #expect(records.last!.testAccuracy > 0.5, "a small CNN on 600 Fashion-MNIST images reaches well over 50%")
        #expect(records.allSatisfy { $0.perClassAccuracy.count == 10 })
        let best = try HDF5File.open(tiny.teacherDirectory + "/best.h5")
        #expect(try best.attribute("arch") == .string("mnist_student"))
        #expect(try best.attribute("input_mean") == .doubles([0.286]))
        #expect(try best.info("conv1.weight").shape == [8, 1, 3, 3])
        #expect(try HDF5File.open(tiny.teacherDirectory + "/last.h5").contains("optimizer/momentum_buffer/fc2.weight"))

        let evaluated = try run(tiny.kd, ["eval", "--checkpoint", tiny.teacherDirectory + "/last.h5", "--data", tiny.folder.file("test.h5")])
        #expect(evaluated.status == 0, "\(evaluated.error)")
        #expect(evaluated.output.contains(String(format: "top-1 accuracy %.2f%%", 100 * records.last!.testAccuracy)), "\(evaluated.output)")
        #expect(evaluated.output.contains("Ankle boot"))

        // Finished work is reused, not redone.
        let again = try tiny.teacher()
        #expect(again.status == 0 && !again.error.contains("epoch 1/3"))
    }

    @Test func resumesAfterKillToTheSameWeights() throws {
        let reference = try TinyPipeline(trainCount: 2000, epochs: 4)
        #expect(try reference.teacher().status == 0)

        let interrupted = try TinyPipeline(trainCount: 2000, epochs: 4)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interrupted.kd)
        process.arguments = ["teacher", "--config", interrupted.folder.file("tiny.yaml")]
        process.currentDirectoryURL = URL(fileURLWithPath: interrupted.folder.path)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let metrics = MetricsLog(path: interrupted.teacherDirectory + "/metrics.jsonl")
        while process.isRunning, (try? metrics.records().count) ?? 0 < 2 { usleep(2000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let resumed = try interrupted.teacher()
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("resuming after epoch"), "\(resumed.output)")

        let a = try HDF5File.open(reference.teacherDirectory + "/last.h5"), b = try HDF5File.open(interrupted.teacherDirectory + "/last.h5")
        for name in ["conv1.weight", "fc1.weight", "fc2.bias"] {
            #expect(try a.dataset(name, as: Float.self).read() == b.dataset(name, as: Float.self).read(), "\(name)")
        }
        #expect(try MetricsLog(path: interrupted.teacherDirectory + "/metrics.jsonl").records().map(\.epoch) == [1, 2, 3, 4])
    }

    @Test func refusesAChangedConfigurationAndReportsBadInput() throws {
        let tiny = try TinyPipeline(epochs: 1)
        #expect(try tiny.teacher().status == 0)
        try tiny.writeConfig(epochs: 2, lr: 0.01)
        let refused = try tiny.teacher()
        // The message names what changed, in one line.
        #expect(refused.status != 0 && refused.error.contains("other settings (epochs: 1 then, 2 now; optimizer.lr: 0.05 then, 0.01 now)")
                && refused.error.contains("--restart") && refused.error.split(separator: "\n").count == 1, "\(refused.error)")
        #expect(try tiny.teacher(["--restart"]).status == 0)

        try tiny.writeConfig(epochs: 1, arch: "vgg")
        let unknown = try tiny.teacher()
        #expect(unknown.status != 0 && unknown.error.contains("unknown model 'vgg'"))

        try "name: tiny\ndata: {train: x}\n".write(toFile: tiny.folder.file("tiny.yaml"), atomically: true, encoding: .utf8)
        let incomplete = try tiny.teacher()
        #expect(incomplete.status != 0 && incomplete.error.contains("tiny.yaml") && incomplete.error.contains("missing"), "\(incomplete.error)")
    }

    @Test func divergingLossStopsWithAMessage() throws {
        let tiny = try TinyPipeline(epochs: 2, lr: 1e12)
        let result = try tiny.teacher()
        #expect(result.status != 0)
        #expect(result.error.contains("the loss is") && result.error.contains("epoch"), "\(result.error)")
    }
}
