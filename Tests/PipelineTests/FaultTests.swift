// Faults a user meets, each on tiny data: a full disk, a half-written cache, a cache of skipped
// images, classes in another order, misspelled keys, another teacher, an empty dataset, two
// processes at once, leftovers of a killed process, a read-only folder, and verify-cache across
// BLAS kernels and against one wrong row. Every one must end in a clear error (one line naming the
// file) or in correct work, never in a command that exits 0 on garbage. `make faults` runs these.
import Datasets
import Foundation
import HDF5
import NN
@testable import Pipeline
import Testing
import TestSupport

/// A small tmpfs of `kilobytes` at a fresh folder, or nil (with the reason) where mounting is not permitted.
final class SmallDisk {
    let path: String

    init?(kilobytes: Int, readOnly: Bool = false) {
        path = NSTemporaryDirectory() + "kd-disk-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard let mount = which("mount"),
              let result = try? run(mount, ["-t", "tmpfs", "-o", "size=\(kilobytes)k" + (readOnly ? ",ro" : ""), "tmpfs", path]),
              result.status == 0 else {
            print("SKIPPED PART: cannot mount a small tmpfs here (needs root and mount permission): the full-disk case is not exercised")
            return nil
        }
    }

    deinit {
        _ = try? run(which("umount") ?? "/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite(.serialized) struct FaultTests {
    @Test func aFullDiskIsAnErrorNamingTheFileAndNothingIsMarkedDone() throws {
        let tiny = try TinyPipeline(trainCount: 1200, testCount: 100, epochs: 1, extra: fullCache)
        #expect(try tiny.teacher().status == 0)
        guard let disk = SmallDisk(kilobytes: 4096) else { return }
        // The cache needs about 30 MiB; the disk has 4: precompute refuses before any work.
        let work = disk.path + "/work"
        try FileManager.default.createDirectory(atPath: work + "/runs/tiny", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: tiny.teacherDirectory, toPath: work + "/runs/tiny/teacher")
        let result = try run(tiny.kd, ["precompute", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: work)
        #expect(result.status == 1, "\(result.error)")
        #expect(result.error.contains("runs/tiny/cache.h5") && result.error.contains("the disk is full"), "\(result.error)")
        #expect(!result.error.contains("Backtrace") && !FileManager.default.fileExists(atPath: work + "/runs/tiny/cache.h5"))
        #expect((try FileManager.default.contentsOfDirectory(atPath: work + "/runs/tiny")).allSatisfy { !$0.contains(".tmp-") })

        // A packed file that does not fit: the error alone, status 1 (it was a crash inside libhdf5).
        let split = try run(tiny.kd, ["data", "split", try TinyPipeline.fashionMNIST("train"), "--test-per-class", "10",
                                      "--train", disk.path + "/a.h5", "--test", disk.path + "/b.h5"])
        #expect(split.status == 1 && split.error.contains("a.h5") && split.error.contains("the disk is full"), "status \(split.status): \(split.error)")
        #expect(split.error.split(separator: "\n").count == 1, "\(split.error)")
    }

    @Test func aHalfWrittenCacheIsRefusedByDistillAndResumedByPrecompute() throws {
        let tiny = try TinyPipeline(trainCount: 600, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}\nstudents:\n"
            + "  - {name: kd, method: kd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], \(testSGD), terms: [{loss: kd, weight: 1, temperature: 4}]}\n")
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        // As a kill -9 part-way leaves it: the last batches never marked finished.
        let file = try HDF5File.open(tiny.cachePath, mode: .readWrite)
        try file.dataset("progress", as: UInt8.self).write([0, 0, 0], startingAtRow: 7)
        try file.close()
        let refused = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(refused.status == 1 && refused.error.contains("is incomplete: 3 of 10 batches") && refused.error.contains("kd precompute"), "\(refused.error)")
        let resumed = try tiny.precompute()
        #expect(resumed.status == 0 && resumed.output.contains("resuming at batch 8 of 10"), "\(resumed.output)")
        let trained = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(trained.status == 0, "\(trained.error)")
    }

    @Test func aCacheWithSkippedImagesTrainsWithoutThem() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}\nstudents:\n"
            + "  - {name: kd, method: kd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], \(testSGD), terms: [{loss: kd, weight: 1, temperature: 4}]}\n")
        #expect(try tiny.teacher().status == 0)
        let pngs = tiny.folder.file("pngs")
        try exportPNG(try openImageSource(tiny.folder.file("train.h5")), to: pngs)
        let victim = pngs + "/Bag/" + (try FileManager.default.contentsOfDirectory(atPath: pngs + "/Bag").sorted()[0])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        try bytes.prefix(bytes.count - 30).write(to: URL(fileURLWithPath: victim))
        TinyPipeline.replacingTrain(in: tiny, with: pngs)
        #expect(try tiny.precompute(["--skip-bad"]).status == 0)
        let trained = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(trained.status == 0, "\(trained.error)")
        // The skipped row is in no batch and no labelled subset.
        let (config, _) = try PipelineConfig.load(tiny.folder.file("tiny.yaml"))
        let context = try inside(tiny.folder) { try DistillContext(config) }
        let victimIndex = try PNGFolderSource(root: pngs).files.firstIndex(of: victim)!
        #expect(context.skipped == [victimIndex])
        let trainer = context.trainer(try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0),
                                      config: config.students![0].training(seed: 0), folder: RunFolder(tiny.folder.file("x")), name: "x",
                                      attributes: [:], indices: nil, threads: 1)
        let batches = trainer.planner.batches(epoch: 1, batchSize: 32, seed: 0).joined()
        #expect(batches.count == 199 && !batches.contains(victimIndex))
        #expect(!context.labelled(nil).indices.contains(victimIndex))
    }

    @Test func classesInAnotherOrderAreRefusedAndExportImportKeepsLabels() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}")
        #expect(try tiny.teacher().status == 0)
        // export-png then import-png: the same labels and class names, in the same order.
        let pngs = tiny.folder.file("pngs")
        #expect(try run(tiny.kd, ["data", "export-png", tiny.folder.file("train.h5"), "--output", pngs]).status == 0)
        let imported = tiny.folder.file("imported.h5")
        #expect(try run(tiny.kd, ["data", "import-png", "--root", pngs, "--output", imported]).status == 0)
        let original = try openImageSource(tiny.folder.file("train.h5")), back = try openImageSource(imported)
        #expect(back.classNames == original.classNames)
        let files = try PNGFolderSource(root: pngs).files.map { Int(URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent)! }
        #expect(files.enumerated().allSatisfy { back.labels[$0.offset] == original.labels[$0.element] })

        // Without classes.txt the folders sort by name (T-shirt_top after Shirt...): not the teacher's order.
        try FileManager.default.removeItem(atPath: pngs + "/classes.txt")
        TinyPipeline.replacingTrain(in: tiny, with: pngs)
        let refused = try tiny.precompute()
        #expect(refused.status == 1 && refused.error.contains("are not the teacher's") && refused.error.contains("[Ankle boot, Bag, Coat")
                && refused.error.contains("[T-shirt/top, Trouser") && refused.error.contains("classes.txt"), "\(refused.error)")
    }

    @Test func misspelledKeysAndSyntaxErrorsNameTheLine() throws {
        let tiny = try TinyPipeline(trainCount: 100, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64, top_kk: 5}")
        let typo = try tiny.teacher()
        #expect(typo.status == 1 && typo.error.contains("unknown key cache.top_kk") && typo.error.contains("did you mean 'top_k'?"), "\(typo.error)")
        TinyPipeline.replacingCache(in: tiny, with: "cache: {batch_size: 64, views: [2}")
        let syntax = try tiny.teacher()
        #expect(syntax.status == 1 && syntax.error.contains("not valid YAML") && syntax.error.contains("line"), "\(syntax.error)")
        TinyPipeline.replacingCache(in: tiny, with: "cache:\n  batch_size: sixty")
        let type = try tiny.teacher()
        #expect(type.status == 1 && type.error.contains("cache.batch_size") && type.error.contains("'sixty' is not a whole number (line"), "\(type.error)")
    }

    @Test func anotherTeachersCheckpointAndAnEmptyDatasetAreRefused() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, arch: "mnist_student", extra: "cache: {batch_size: 64}")
        #expect(try tiny.teacher().status == 0)
        let other = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, arch: "mnist_teacher")
        #expect(try other.teacher().status == 0)
        TinyPipeline.replacingCache(in: tiny, with: "cache: {batch_size: 64, teacher_checkpoint: \(other.teacherDirectory)/last.h5}")
        let arch = try tiny.precompute()
        #expect(arch.status == 1 && arch.error.contains("holds a mnist_teacher, but the pipeline's teacher.arch is mnist_student"), "\(arch.error)")

        let empty = tiny.folder.file("empty.h5")
        let writer = try PackedWriter(path: empty, count: 0, height: 28, width: 28, channels: 1, classNames: try openImageSource(tiny.folder.file("train.h5")).classNames)
        try writer.finish()
        TinyPipeline.replacingCache(in: tiny, with: "cache: {batch_size: 64}")
        TinyPipeline.replacingTrain(in: tiny, with: empty)
        let teacher = try run(tiny.kd, ["teacher", "--config", tiny.folder.file("tiny.yaml"), "--restart"], currentDirectory: tiny.folder.path)
        #expect(teacher.status == 1 && teacher.error.contains("empty.h5: has no images"), "\(teacher.error)")
        let precompute = try tiny.precompute()
        #expect(precompute.status == 1 && precompute.error.contains("empty.h5: has no images"), "\(precompute.error)")
    }

    @Test func twoProcessesOnOneRunAreRefusedNamingTheOther() throws {
        let tiny = try TinyPipeline(trainCount: 1500, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}\nstudents:\n"
            + "  - {name: kd, method: kd, arch: mnist_student, epochs: 2, batch_size: 32, seeds: [0], \(testSGD), terms: [{loss: kd, weight: 1, temperature: 4}]}\n")
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let first = Process()
        first.executableURL = URL(fileURLWithPath: tiny.kd)
        first.arguments = ["distill", "--config", tiny.folder.file("tiny.yaml")]
        first.currentDirectoryURL = URL(fileURLWithPath: tiny.folder.path)
        (first.standardError, first.standardOutput) = (FileHandle.nullDevice, FileHandle.nullDevice)
        try first.run()
        let lock = tiny.folder.file("runs/tiny/students/kd/seed0/.lock")
        while first.isRunning, ((try? String(contentsOfFile: lock, encoding: .utf8)) ?? "").isEmpty { usleep(5000) }
        let second = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        let precompute = try tiny.precompute(["--force"])
        first.terminate()
        first.waitUntilExit()
        #expect(second.status == 1 && second.error.contains("seed0 is in use by another kd process (pid \(first.processIdentifier): kd distill"), "\(second.error)")
        #expect(precompute.status == 1 && precompute.error.contains("cache.h5 is in use by another kd process"), "\(precompute.error)")
        // Killed, the process leaves no lock behind.
        #expect(try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path).status == 0)
    }

    @Test func leftoversOfKilledProcessesGoAndAReadOnlyFolderIsOneLine() throws {
        let tiny = try TinyPipeline(trainCount: 100, testCount: 100, epochs: 1)
        // A temporary of a process that no longer runs (pid 2^22 - 1 is beyond the default pid_max).
        let stale = tiny.folder.file("out.h5.tmp-4194303")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stale))
        #expect(try run(tiny.kd, ["data", "import-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                  "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "fashion-mnist",
                                  "--output", tiny.folder.file("out.h5")]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))

        guard let disk = SmallDisk(kilobytes: 64, readOnly: true) else { return }
        let result = try run(tiny.kd, ["data", "split", tiny.folder.file("train.h5"), "--test-per-class", "1",
                                       "--train", disk.path + "/x/a.h5", "--test", disk.path + "/x/b.h5"])
        #expect(result.status == 1 && result.error == "kd: \(disk.path)/x: the volume is read-only\n", "\(result.error)")
    }

    @Test func verifyCacheHoldsAcrossBLASKernelsAndFindsOneWrongRow() throws {
        let tiny = try TinyPipeline(trainCount: 400, testCount: 100, epochs: 1, extra: fullCache)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        // Other OpenBLAS kernels sum in other orders and break max-pool ties otherwise.
        for kernel in ["Haswell", "Nehalem", "Sandybridge"] {
            let checked = try run(tiny.kd, ["verify-cache", tiny.cachePath, "--all"], environment: ["OPENBLAS_CORETYPE": kernel])
            #expect(checked.status == 0, "\(kernel): \(checked.output)")
        }
        // One row of one group replaced by another image's: --all finds it, in that group only.
        do {
            let file = try HDF5File.open(tiny.cachePath, mode: .readWrite)
            let grads = try file.dataset("input_grad", as: Float16.self)
            try grads.write(try grads.read(offset: [1, 12, 0, 0, 0], count: [1, 1, 1, 28, 28]), offset: [1, 311, 0, 0, 0], count: [1, 1, 1, 28, 28])
            let scales = try file.dataset("input_grad_scale", as: Float.self)
            try scales.write(try scales.read(offset: [1, 12], count: [1, 1]), offset: [1, 311], count: [1, 1])
        }
        let found = try run(tiny.kd, ["verify-cache", tiny.cachePath, "--all"])
        #expect(found.status == 1 && found.output.contains("FAIL  input_grad ") && found.output.contains("1 of"), "\(found.output) \(found.error)")
    }
}
