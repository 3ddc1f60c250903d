// A teacher kd does not have: a cache written by scripts/precompute_pytorch.py from a tiny torch
// model (the committed fixture Fixtures/foreign/, made by scripts/make_foreign_cache_fixture.py)
// trains students through `kd distill`, passes `kd verify-cache`, and is refused, by name, when its
// view table is broken, a required attribute is missing or its logits hold a NaN. With torch
// installed, the script runs live and its views and fingerprint are checked against kd's own.
import Datasets
import Foundation
import HDF5
import Pipeline
import Testing
import TestSupport

/// The committed foreign cache and its images, copied into a fresh folder, and a pipeline naming it.
struct ForeignFixture {
    let folder = TemporaryFolder("kd-foreign")
    let kd = Repository.products + "/kd"
    var cache: String { folder.file("cache.h5") }
    var train: String { folder.file("train.h5") }
    var pipeline: String { folder.file("foreign.yaml") }

    init(epochs: Int = 8) throws {
        let fixtures = Bundle.module.path(forResource: "Fixtures", ofType: nil)! + "/foreign/"
        for name in ["cache.h5", "train.h5", "test.h5"] {
            try FileManager.default.copyItem(atPath: fixtures + name, toPath: folder.file(name))
        }
        let text = """
            name: foreign
            data: {train: \(train), test: \(folder.file("test.h5")), mean: [0.286], std: [0.353]}
            cache: {external: \(cache)}
            students:
              - {name: kd, method: kd, arch: mnist_student, epochs: \(epochs), batch_size: 16, seeds: [0],
                 optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
                 terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}
              - {name: at, method: at, arch: mnist_student, epochs: 2, batch_size: 16, seeds: [0],
                 optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
                 terms: [{loss: ce, weight: 1}, {loss: at, weight: 500, pairs: [[pool, pool]]}]}
            """
        try text.write(toFile: pipeline, atomically: true, encoding: .utf8)
    }

    func kd(_ arguments: [String]) throws -> ProcessResult { try run(kd, arguments, currentDirectory: folder.path) }
    func verify() throws -> ProcessResult { try kd(["verify-cache", cache, "--data", train]) }
}

@Suite(.serialized) struct ForeignCacheTests {
    /// Teacher and precompute say the teacher is external; distill trains from the cache: the kd
    /// term falls and the student agrees with the foreign teacher far above chance; the report's
    /// teacher row is what the cache records.
    @Test func aForeignCacheTeachesThroughKdDistill() throws {
        let fixture = try ForeignFixture()
        let teacher = try fixture.kd(["teacher", "--config", fixture.pipeline])
        #expect(teacher.status == 0 && teacher.output.contains("teacher: external, none to train: TinyTeacher"), "\(teacher.output) \(teacher.error)")
        let precompute = try fixture.kd(["precompute", "--config", fixture.pipeline])
        #expect(precompute.status == 0 && precompute.output.contains("the teacher is external") && precompute.output.contains("nothing to compute"),
                "\(precompute.output) \(precompute.error)")
        let distill = try fixture.kd(["distill", "--config", fixture.pipeline])
        #expect(distill.status == 0, "\(distill.error)")
        let records = try MetricsLog(path: fixture.folder.file("runs/foreign/students/kd/seed0/metrics.jsonl")).records()
        let kdTerm = records.compactMap { $0.extra?["loss/kd"] }
        #expect(kdTerm.count == 8 && kdTerm.last! < 0.8 * kdTerm.first!, "loss/kd by epoch \(kdTerm)")
        // Ten classes: chance agreement is about 0.1.
        let agreement = records.last?.agreement ?? 0
        #expect(agreement > 0.3, "agreement with the foreign teacher \(agreement) by epoch \(records.map { $0.agreement ?? -1 })")
        let at = try MetricsLog(path: fixture.folder.file("runs/foreign/students/at/seed0/metrics.jsonl")).records().compactMap { $0.extra?["loss/at"] }
        #expect(at.count == 2 && at[1] < at[0], "loss/at by epoch \(at)")
        let accuracy = try HDF5File.open(fixture.cache).attribute("teacher_test_accuracy").doubleValue!
        let parameters = try HDF5File.open(fixture.cache).attribute("teacher_parameters").intValue!
        #expect(distill.output.contains("| teacher | external | TinyTeacher from tiny_teacher.py:make_teacher | \(parameters) | - | 64 | 1 | "
                                        + String(format: "%.2f", 100 * accuracy)), "\(distill.output)")
        // No teacher can run live.
        let online = try fixture.kd(["distill", "--config", fixture.pipeline, "--online-teacher", "--student", "kd"])
        #expect(online.status != 0 && online.error.contains("--online-teacher") && online.error.contains("external"), "\(online.error)")
    }

    /// Without the teacher's test predictions, the students' agreement is unknown: "-", not 0.
    @Test func agreementIsUnknownWithoutTheTeachersTestPredictions() throws {
        let fixture = try ForeignFixture(epochs: 1)
        let file = try HDF5File.open(fixture.cache, mode: .readWrite)
        try file.removeLink("teacher_test")
        try file.close()
        let distill = try fixture.kd(["distill", "--config", fixture.pipeline, "--student", "kd"])
        #expect(distill.status == 0, "\(distill.error)")
        let row = distill.output.split(separator: "\n").first { $0.hasPrefix("| kd |") } ?? ""
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells.count == 14 && cells[11] == "-", "agreement of \(row)")
    }

    /// Every structural check passes, and verify-cache says it cannot recompute the rows.
    @Test func verifyCachePassesOnTheForeignCache() throws {
        let fixture = try ForeignFixture()
        let result = try fixture.verify()
        #expect(result.status == 0, "\(result.output) \(result.error)")
        #expect(result.output.contains("kd cannot re-run a foreign teacher"), "\(result.output)")
        for check in ["dataset fingerprint", "classes", "complete", "layout", "views", "images", "finite logits", "finite input_grad"] {
            #expect(result.output.contains("ok    " + check), "\(check) missing: \(result.output)")
        }
        #expect(result.output.contains("all 14 checks passed"), "\(result.output)")
    }

    /// A view 0 that is not the image itself, and an offset beyond the crop padding, are refused by
    /// verify-cache and distill, naming the dataset.
    @Test func aBrokenViewTableIsRefusedByName() throws {
        for (row, value, message) in [(5, UInt8(0), "view 0 of image 5 is 0"), (64 + 7, UInt8(9), "holds 9 at view 1, image 7: outside 0...4")] {
            let fixture = try ForeignFixture(epochs: 1)
            let file = try HDF5File.open(fixture.cache, mode: .readWrite)
            var dy = try file.dataset("views/dy", as: UInt8.self).read()
            dy[row] = value
            try file.dataset("views/dy", as: UInt8.self).write(dy)
            try file.close()
            for result in [try fixture.verify(), try fixture.kd(["distill", "--config", fixture.pipeline])] {
                #expect(result.status != 0 && result.error.contains("views/dy") && result.error.contains(message), "\(result.output) \(result.error)")
            }
        }
    }

    /// Each required root attribute, removed, is refused naming it, by verify-cache and distill.
    @Test func aMissingRequiredAttributeIsRefusedByName() throws {
        for attribute in ["dataset_fingerprint", "teacher_sha256", "cache_config"] {
            let fixture = try ForeignFixture(epochs: 1)
            let file = try HDF5File.open(fixture.cache, mode: .readWrite)
            try file.removeAttribute(attribute)
            try file.close()
            for result in [try fixture.verify(), try fixture.kd(["distill", "--config", fixture.pipeline])] {
                #expect(result.status != 0 && result.error.contains("has no '\(attribute)' attribute"), "\(attribute): \(result.output) \(result.error)")
            }
        }
    }

    /// A NaN among the logits fails verify-cache's finiteness check of that dataset.
    @Test func aNaNInTheLogitsFailsVerifyCache() throws {
        let fixture = try ForeignFixture(epochs: 1)
        let file = try HDF5File.open(fixture.cache, mode: .readWrite)
        try file.dataset("logits", as: Float.self).write([.nan], offset: [1, 30, 4], count: [1, 1, 1])
        try file.close()
        let result = try fixture.verify()
        #expect(result.status == 1 && result.output.contains("FAIL  finite logits") && result.output.contains("1 NaN or Inf values"), "\(result.output)")
        #expect(result.output.contains("1 of 14 checks FAILED"), "\(result.output)")
    }

    /// A pipeline naming a foreign cache has no teacher section, and sets no other cache key.
    @Test func aForeignPipelineHasNoTeacherAndNoOtherCacheKeys() throws {
        let fixture = try ForeignFixture(epochs: 1)
        let text = try String(contentsOfFile: fixture.pipeline, encoding: .utf8)
        let variants = [
            ("cache: {external: \(fixture.cache)}", "cache: {external: \(fixture.cache), chunk_rows: 8}", "a foreign cache brings its own settings"),
            ("cache: {external: \(fixture.cache)}", "cache: {external: \(fixture.cache)}\nteacher: {arch: mnist_teacher, epochs: 1, batch_size: 8, seed: 0, optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0, schedule: cosine}, augment: {crop_padding: 0, flip: false}}",
             "remove the teacher: section"),
            ("cache: {external: \(fixture.cache)}", "", "missing 'teacher'"),
        ]
        for (old, new, message) in variants {
            try text.replacingOccurrences(of: old, with: new).write(toFile: fixture.pipeline, atomically: true, encoding: .utf8)
            let result = try fixture.kd(["distill", "--config", fixture.pipeline])
            #expect(result.status != 0 && result.error.contains(message), "\(message): \(result.error)")
        }
    }
}

let torchScriptsAvailable: Bool = {
    guard let python = which("python3") else { return false }
    return (try? run(python, ["-c", "import torch, h5py, numpy"]).status) == 0
}()

@Suite struct PrecomputePyTorchTests {
    /// The script run live on the fixture's images, with a model whose `echo` feature is its input:
    /// its --verify passes, kd reads and verifies the cache, kd's dataset fingerprint is the one it
    /// wrote, and every view's cached input is exactly what kd's makeInputs makes of that view.
    @Test(.enabled(if: torchScriptsAvailable, "SKIPPED: needs python3 with torch, h5py and numpy (pip install torch h5py numpy); scripts/precompute_pytorch.py not run live"))
    func theScriptWritesACacheKdReads() throws {
        let fixture = try ForeignFixture(epochs: 1)
        let python = which("python3")!
        let model = """
            import torch
            from torch import nn

            class Echo(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.echo = nn.Identity()
                    self.conv = nn.Conv2d(1, 3, 3)
                    self.fc = nn.Linear(3 * 26 * 26, 10)

                def forward(self, x):
                    y = self.conv(self.echo(x))
                    return self.fc(torch.relu(y).flatten(1)), y

            def make():
                torch.manual_seed(0)
                return Echo()
            """
        try model.write(toFile: fixture.folder.file("echo.py"), atomically: true, encoding: .utf8)
        let saved = try run(python, ["-c", "import sys; sys.path.insert(0, sys.argv[1]); import torch, echo; torch.save(echo.make().state_dict(), sys.argv[1] + '/echo.pt')",
                                     fixture.folder.path])
        #expect(saved.status == 0, "\(saved.error)")
        let script = Repository.root + "/scripts/precompute_pytorch.py"
        let output = fixture.folder.file("live.h5")
        let arguments = [script, "--model", fixture.folder.file("echo.py") + ":make", "--weights", fixture.folder.file("echo.pt"), "--data", fixture.train,
                         "--output", output, "--mean", "0.286", "--std", "0.353", "--views", "3", "--crop-padding", "3", "--flip", "--seed", "4",
                         "--features", "echo", "--features-dtype", "float32", "--attention", "conv", "--boundary", "conv", "--input-grad",
                         "--embedding", "fc", "--batch-size", "24", "--verify", "20"]
        let written = try run(python, arguments)
        #expect(written.status == 0 && written.output.contains("all groups within their limits"), "\(written.output) \(written.error)")
        let verified = try run(fixture.kd, ["verify-cache", output, "--data", fixture.train])
        #expect(verified.status == 0 && verified.output.contains("kd cannot re-run a foreign teacher"), "\(verified.output) \(verified.error)")

        let file = try HDF5File.open(output)
        let source = try openImageSource(fixture.train)
        #expect(try file.attribute("dataset_fingerprint").stringValue == (try datasetFingerprint(source)))
        let reader = try CacheReader(path: output)
        let logitsShape = try file.info("logits").shape
        #expect(reader.count == 64 && reader.views == 3 && logitsShape == [3, 64, 10])
        let pixels = try source.batch(Array(0..<64)).pixels
        let dy = try file.dataset("views/dy", as: UInt8.self).read(), dx = try file.dataset("views/dx", as: UInt8.self).read()
        let flip = try file.dataset("views/flip", as: UInt8.self).read()
        #expect(Set(dy[64...]).count > 1 && Set(flip[64...]) == [0, 1], "views 1 and 2 are random crops and flips")
        var worst: Float = 0
        for view in 0..<3 {
            let views = (0..<64).map { View(dy: Int(dy[view * 64 + $0]), dx: Int(dx[view * 64 + $0]), flip: flip[view * 64 + $0] != 0) }
            let mine = pixels.withUnsafeBufferPointer { buffer in
                makeInputs(buffer, imageShape: [28, 28, 1], indices: Array(0..<64), normalization: Normalization(mean: [0.286], std: [0.353]),
                           views: views, padding: 3)
            }.scalars
            let cached = try reader.block("features/echo", as: Float.self, view: view, rows: 0..<64)
            worst = max(worst, zip(mine, cached).map { abs($0 - $1) }.max()!)
        }
        #expect(worst < 1e-5, "kd's inputs differ from the script's by up to \(worst)")

        // Errors are one line naming the problem: an unknown module lists the known ones.
        let bad = try run(python, Array(arguments.prefix(13)) + ["--features", "nosuch"])
        #expect(bad.status != 0 && bad.error.split(separator: "\n").count == 1 && bad.error.contains("no module 'nosuch'")
                && bad.error.contains("echo, conv, fc"), "\(bad.error)")
        #expect(!FileManager.default.fileExists(atPath: output + ".tmp"))
    }
}
