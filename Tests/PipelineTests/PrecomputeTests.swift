// The cache end to end: every group against the teacher recomputed live (and against independent
// formulas), kill -9 and resume to identical contents, errors for bad input, and h5py.
import Checkpoints
import Datasets
import Foundation
import HDF5
import ImageIO
import Losses
import NN
import Pipeline
import Tensor
import Testing
import TestSupport

let fullCache = """
    cache:
      views: 2
      augment: {crop_padding: 2, flip: true}
      batch_size: 64
      chunk_rows: 16
      features: [conv2]
      attention: {layers: [conv1, pool], mode: sum_p, p: 2}
      boundary: [conv1, fc1]
      input_grad: true
      embedding: true
    """

@Suite(.serialized) struct PrecomputeTests {
    @Test func everyGroupEqualsTheLiveTeacher() throws {
        let tiny = try TinyPipeline(trainCount: 300, testCount: 100, epochs: 1, extra: fullCache)
        #expect(try tiny.teacher().status == 0)
        let result = try tiny.precompute()
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("features/conv2"))

        // Every row of both views, recomputed by verify-cache's live teacher.
        let checks = try VerifyCache.run(path: tiny.cachePath, samples: 600)
        for check in checks { #expect(check.passed, "\(check.name): \(check.detail)") }
        #expect(checks.count >= 12)

        // Pictures: each image beside its attention map, or beside its boundary firing rate.
        let picture = tiny.folder.file("attention.png")
        #expect(try Inspector.mapPicture(of: tiny.cachePath, kind: .attention, layer: "pool", rows: 0..<4, view: 1, output: picture) == 4)
        #expect(try PNG.read(file: picture).channels == 3)
        #expect(try Inspector.mapPicture(of: tiny.cachePath, kind: .boundary, layer: "conv1", rows: 0..<4, output: picture) == 4)
        #expect(throws: HDF5Error.self) { try Inspector.mapPicture(of: tiny.cachePath, kind: .attention, layer: "conv9", rows: 0..<4, output: picture) }

        // Independent formulas on a few rows of view 1 (a crop and maybe a flip).
        let file = try HDF5File.open(tiny.cachePath)
        #expect(try file.info("features/conv2").shape == [2, 300, 16, 24, 24] && (try file.info("features/conv2").typeName) == "float16")
        #expect(try file.info("boundary/conv1").shape == [2, 300, (8 * 26 * 26 + 7) / 8])
        #expect(try file.dataset("views/dy", as: UInt8.self).read(offset: [0, 0], count: [1, 300]).allSatisfy { $0 == 2 })
        let dy = try file.dataset("views/dy", as: UInt8.self).read(offset: [1, 0], count: [1, 300])
        #expect(Set(dy).count > 1 && dy.allSatisfy { $0 <= 4 })

        let set = try ImageSet(path: tiny.folder.file("train.h5"))
        let model = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0)
        try Checkpoint.load(tiny.teacherDirectory + "/last.h5", into: model)
        model.train(false)
        // Rows 0, 7, 299 and the first image whose label this 1-epoch teacher gets wrong: the cached
        // input gradient is taken against the teacher's predicted class, never the label.
        let allLogits = try file.dataset("logits", as: Float.self).read(offset: [1, 0, 0], count: [1, 300, 10])
        let predictions = (0..<300).map { image in (0..<10).max { allLogits[image * 10 + $0] < allLogits[image * 10 + $1] }! }
        let mistaken = try #require((0..<300).first { predictions[$0] != Int(set.labels[$0]) }, "the teacher predicts every label")
        let rows = [0, 7, 299, mistaken]
        #expect(try file.dataset("input_grad", as: Float16.self).attribute("class").stringValue == "teacher_prediction")
        let views = try rows.map { row in
            View(dy: Int(try file.dataset("views/dy", as: UInt8.self).read(offset: [1, row], count: [1, 1])[0]),
                 dx: Int(try file.dataset("views/dx", as: UInt8.self).read(offset: [1, row], count: [1, 1])[0]),
                 flip: try file.dataset("views/flip", as: UInt8.self).read(offset: [1, row], count: [1, 1])[0] != 0)
        }
        let x = set.batch(rows, normalization: Normalization(mean: [0.286], std: [0.353]), views: views, padding: 2)
        x.requiresGrad = true
        let output = model.forward(x, upto: nil)
        let inputGrad = gradients(of: crossEntropy(logits: output.logits!, labels: rows.map { predictions[$0] }) * Double(rows.count), wrt: [x])[0].scalars
        let labelGrad = gradients(of: crossEntropy(logits: output.logits!, labels: rows.map { Int(set.labels[$0]) }) * Double(rows.count), wrt: [x])[0].scalars
        let maps = output.features[0].pow(2).sum(axes: [1]).reshaped([rows.count, -1]).l2Normalized(axis: 1).scalars
        let signs = output.preActivations[0].scalars.map { $0 > 0 }
        for (k, row) in rows.enumerated() {
            let logits = try file.dataset("logits", as: Float.self).read(offset: [1, row, 0], count: [1, 1, 10])
            #expect(zip(logits, output.logits!.scalars[(k * 10)..<(k * 10 + 10)]).allSatisfy { Swift.abs($0 - $1) < 1e-4 })
            let map = try file.dataset("attention/conv1", as: Float.self).read(offset: [1, row, 0], count: [1, 1, 676])
            #expect(zip(map, maps[(k * 676)..<((k + 1) * 676)]).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
            let packed = try file.dataset("boundary/conv1", as: UInt8.self).read(offset: [1, row, 0], count: [1, 1, 676])
            let unpacked = (0..<(8 * 676)).map { packed[$0 / 8] & (0x80 >> UInt8($0 % 8)) != 0 }
            #expect(unpacked == Array(signs[(k * 5408)..<((k + 1) * 5408)]))
            let grad = try file.dataset("input_grad", as: Float16.self).read(offset: [1, row, 0, 0, 0], count: [1, 1, 1, 28, 28])
            let scale = try file.dataset("input_grad_scale", as: Float.self).read(offset: [1, row], count: [1, 1])[0]
            let live = inputGrad[(k * 784)..<((k + 1) * 784)]
            #expect(zip(grad, live).allSatisfy { Swift.abs(Float($0) * scale - $1) <= 1e-3 * scale + 1e-12 })
            if row == mistaken {
                // Against the label the gradient is another one altogether.
                let withLabel = labelGrad[(k * 784)..<((k + 1) * 784)]
                #expect(!zip(grad, withLabel).allSatisfy { Swift.abs(Float($0) * scale - $1) <= 1e-3 * scale + 1e-12 })
            }
        }
    }

    @Test func resumesAfterKillToTheSameContents() throws {
        let reference = try TinyPipeline(trainCount: 1500, testCount: 100, epochs: 1, extra: fullCache)
        #expect(try reference.teacher().status == 0)
        #expect(try reference.precompute().status == 0)

        let interrupted = try TinyPipeline(trainCount: 1500, testCount: 100, epochs: 1, extra: fullCache)
        try FileManager.default.createDirectory(atPath: interrupted.folder.file("runs/tiny"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: reference.teacherDirectory, toPath: interrupted.teacherDirectory)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interrupted.kd)
        process.arguments = ["precompute", "--config", interrupted.folder.file("tiny.yaml")]
        process.currentDirectoryURL = URL(fileURLWithPath: interrupted.folder.path)
        let progress = Pipe()
        process.standardError = progress
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Kill once the progress bar (a line per tenth when not on a terminal) reports 30%.
        var seen = ""
        while process.isRunning && !seen.contains("[#######") {
            seen += String(decoding: progress.fileHandleForReading.availableData, as: UTF8.self)
        }
        let marked = seen.split(separator: "\n").last.map(String.init) ?? ""
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let resumed = try interrupted.precompute()
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("resuming at batch"), "killed at \(marked): \(resumed.output)")

        let a = try HDF5File.open(reference.cachePath), b = try HDF5File.open(interrupted.cachePath)
        for entry in try a.walk() {
            guard case .dataset(let info) = entry.kind else { continue }
            let name = String(entry.path.dropFirst())
            if info.elementType?.isFloat == true {
                #expect(try a.dataset(name, as: Double.self).read() == b.dataset(name, as: Double.self).read(), "\(name)")
            } else {
                #expect(try a.dataset(name, as: Int64.self).read() == b.dataset(name, as: Int64.self).read(), "\(name)")
            }
        }
        for key in ["teacher_sha256", "dataset_fingerprint", "cache_config"] {
            #expect(try a.attribute(key) == b.attribute(key))
        }
    }

    @Test func refusesAnotherTeacherOrSettingsAndReportsBadInput() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}")
        let missing = try tiny.precompute()
        #expect(missing.status != 0 && missing.error.contains("runs/tiny/teacher/last.h5") && missing.error.contains("kd teacher"))
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        #expect(try tiny.precompute().output.contains("complete; reusing"))

        TinyPipeline.replacingCache(in: tiny, with: "cache: {batch_size: 32}")
        let refused = try tiny.precompute()
        #expect(refused.status != 0 && refused.error.contains("other cache settings") && refused.error.contains("--force"), "\(refused.error)")
        #expect(try tiny.precompute(["--force"]).status == 0)

        #expect(try tiny.teacher(["--restart"]).status == 0)  // the same weights, but a new file (its train_seconds differ)
        let retrained = try tiny.precompute()
        #expect(retrained.status != 0 && retrained.error.contains("another teacher checkpoint"), "\(retrained.error)")

        // A 3-channel dataset for a 1-channel teacher.
        let colour = tiny.folder.file("colour.h5")
        let writer = try PackedWriter(path: colour, count: 4, height: 28, width: 28, channels: 3, classNames: ClassNames.fashionMNIST)
        try writer.append(pixels: [UInt8](repeating: 9, count: 4 * 28 * 28 * 3), labels: [0, 1, 2, 3])
        try writer.finish()
        TinyPipeline.replacingTrain(in: tiny, with: colour)
        let channels = try tiny.precompute(["--force"])
        #expect(channels.status != 0 && channels.error.contains("colour.h5") && channels.error.contains("3 channel"), "\(channels.error)")
    }

    @Test func corruptImageNamesTheFileOrIsSkipped() throws {
        let tiny = try TinyPipeline(trainCount: 120, testCount: 100, epochs: 1, extra: "cache: {batch_size: 32}")
        #expect(try tiny.teacher().status == 0)
        let folder = tiny.folder.file("pngs")
        try exportPNG(try openImageSource(tiny.folder.file("train.h5")), to: folder)
        let victim = folder + "/Bag/" + (try FileManager.default.contentsOfDirectory(atPath: folder + "/Bag").sorted()[0])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        try bytes.prefix(bytes.count - 30).write(to: URL(fileURLWithPath: victim))
        TinyPipeline.replacingTrain(in: tiny, with: folder)
        let failed = try tiny.precompute()
        #expect(failed.status != 0 && failed.error.contains(victim), "\(failed.error)")
        let skipped = try tiny.precompute(["--skip-bad"])
        #expect(skipped.status == 0 && skipped.error.contains("skipping image"), "\(skipped.error)")
        let marks = try HDF5File.open(tiny.cachePath).dataset("skipped", as: UInt8.self).read()
        let victimIndex = try PNGFolderSource(root: folder).files.firstIndex(of: victim)!
        #expect(marks.indices.filter { marks[$0] != 0 } == [victimIndex])
    }

    @Test(.enabled(if: h5pyAvailable, "python3 with h5py is not available"))
    func h5pyReadsEveryGroup() throws {
        let tiny = try TinyPipeline(trainCount: 100, testCount: 100, epochs: 1, extra: fullCache)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let script = """
            import h5py, numpy as np, sys
            f = h5py.File(sys.argv[1], "r")
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                data = f[name][()]
                assert np.all(np.isfinite(data)) if data.dtype.kind == "f" else True, name
            assert f["features/conv2"].dtype == np.float16
            bits = np.unpackbits(f["boundary/conv1"][0, 0])[: 8 * 26 * 26]
            assert bits.shape == (5408,)
            assert f.attrs["num_views"] == 2 and f.attrs["schema_version"] == 2
            assert f["input_grad"].attrs["class"] == "teacher_prediction"
            print("read", len(names), "datasets")
            """
        let result = try run(which("python3")!, ["-c", script, tiny.cachePath])
        #expect(result.status == 0 && result.output.contains("datasets"), "\(result.error)")
    }
}

extension TinyPipeline {
    /// Rewrites the pipeline file with another `cache:` section.
    static func replacingCache(in tiny: TinyPipeline, with cache: String) {
        let path = tiny.folder.file("tiny.yaml")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let kept = text.components(separatedBy: "\ncache:").first ?? text
        try? (kept + "\n" + cache + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Points the pipeline's training data elsewhere.
    static func replacingTrain(in tiny: TinyPipeline, with train: String) {
        let path = tiny.folder.file("tiny.yaml")
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let replaced = text.replacingOccurrences(of: "train: \(tiny.folder.file("train.h5"))", with: "train: \(train)")
        try? replaced.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
