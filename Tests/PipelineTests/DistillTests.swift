// Distillation end to end on a few hundred real images: every method trains from the cache,
// writes its summary, and the report compares them; FitNet's hint stage changes only the layers
// up to the guided layer; a missing cache group is named with the option that adds it.
import Foundation
import HDF5
import NN
import Pipeline
import Testing
import TestSupport

let everyMethod = fullCache.replacingOccurrences(of: "attention: {layers: [conv1, pool], mode: sum_p, p: 2}",
                                                 with: "attention: {layers: [conv1, conv2, pool], mode: sum_p, p: 2}")
    .replacingOccurrences(of: "boundary: [conv1, fc1]", with: "boundary: [conv1, conv2, fc1]") + """

    students:
      - {name: none, method: none, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}]}
      - {name: kd, method: kd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}
      - {name: fitnet, method: fitnet, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         init_stage: {kind: hint, epochs: 1, pairs: [[conv2, conv2]]},
         terms: [{loss: ce, weight: 1}, {loss: kd, weight: 4, weight_end: 1, temperature: 4}]}
      - {name: at, method: at, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}, {loss: at, weight: 500, pairs: [[conv1, conv1], [conv2, conv2], [pool, pool]]}]}
      - {name: at-grad, method: at-grad, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}, {loss: at_grad, weight: 1}]}
      - {name: ab, method: ab, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         init_stage: {kind: ab, epochs: 1, margin: 1, pairs: [[conv1, conv1], [conv2, conv2], [fc1, fc1]]},
         terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}
      - {name: dkd, method: dkd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}, {loss: dkd, weight: 1, alpha: 1, beta: 8, temperature: 4, warmup_epochs: 0.5}]}
      - {name: dist, method: dist, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}, {loss: dist, weight: 1, beta: 2, gamma: 2, temperature: 4}]}
      - {name: kd-ls, method: kd-ls, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 9, temperature: 2, standardize: true}]}
      - {name: crd, method: crd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
         optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
         terms: [{loss: ce, weight: 1}, {loss: crd, weight: 0.8, dimension: 32, negatives: 256, temperature: 0.07, momentum: 0.5}]}
    """

let allMethods = ["none", "kd", "fitnet", "at", "at-grad", "ab", "dkd", "dist", "kd-ls", "crd"]

@Suite(.serialized) struct DistillTests {
    @Test func everyMethodTrainsFromTheCacheAndIsReported() throws {
        // Two epochs of everything, so that each term can be seen to fall.
        let twoEpochs = everyMethod.replacingOccurrences(of: "epochs: 1, batch_size: 32", with: "epochs: 2, batch_size: 32")
            .replacingOccurrences(of: "init_stage: {kind: hint, epochs: 1,", with: "init_stage: {kind: hint, epochs: 2,")
            .replacingOccurrences(of: "init_stage: {kind: ab, epochs: 1,", with: "init_stage: {kind: ab, epochs: 2,")
        let tiny = try TinyPipeline(trainCount: 300, testCount: 100, epochs: 1, arch: "mnist_teacher", extra: twoEpochs)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let result = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(result.status == 0, "\(result.error)")
        for method in allMethods {
            #expect(result.output.contains("| \(method) | \(method) | mnist_student |"), "\(method) missing from \(result.output)")
            let summary = tiny.folder.file("runs/tiny/students/\(method)/seed0/summary.json")
            #expect(FileManager.default.fileExists(atPath: summary), "\(summary)")
        }
        #expect(result.error.contains("fitnet hint epoch 2/2") && result.error.contains("ab ab epoch 2/2"))
        // Each method's own term fell from the first epoch to the second: it moved the student
        // towards what it compares with (the teacher's logits, maps, gradients or embeddings).
        // (FitNet's own part is its hint stage, checked below; its KD weight falls from 4 to 1.)
        let ownTerm = ["kd": "kd", "at": "at", "at-grad": "at_grad", "ab": "kd", "dkd": "dkd", "dist": "dist",
                       "kd-ls": "kd", "crd": "crd"]
        for (method, term) in ownTerm {
            let records = try MetricsLog(path: tiny.folder.file("runs/tiny/students/\(method)/seed0/metrics.jsonl")).records()
            let values = records.compactMap { $0.extra?["loss/" + term] }
            #expect(values.count == 2 && values[1] < values[0], "\(method): loss/\(term) by epoch \(values)")
            #expect(records.allSatisfy { $0.extra?["loss/ce"] != nil }, "\(method) records no loss/ce")
        }
        let noneTerms = try MetricsLog(path: tiny.folder.file("runs/tiny/students/none/seed0/metrics.jsonl")).records().map { $0.extra ?? [:] }
        #expect(noneTerms.allSatisfy { $0.keys.sorted() == ["loss/ce"] }, "\(noneTerms)")
        // The hint stage brought the regressed features towards the teacher's hint; AB's firings
        // agree with the teacher's more after its second epoch than after its first.
        let hint = try MetricsLog(path: tiny.folder.file("runs/tiny/students/fitnet/seed0/init/metrics.jsonl")).records()
        #expect(hint.count == 2 && hint[1].trainLoss < hint[0].trainLoss, "\(hint.map(\.trainLoss))")
        let boundary = try MetricsLog(path: tiny.folder.file("runs/tiny/students/ab/seed0/init/metrics.jsonl")).records()
        let agreeing = boundary.map { ($0.extra ?? [:]).filter { $0.key.hasPrefix("activation_similarity/") }.values.reduce(0, +) }
        #expect(boundary.count == 2 && boundary[1].trainLoss < boundary[0].trainLoss && agreeing[1] > agreeing[0], "\(agreeing)")
        let report = try String(contentsOfFile: tiny.folder.file("runs/tiny/report.md"), encoding: .utf8)
        #expect(report.contains("gain vs none"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tiny.folder.file("runs/tiny/report.json")))) as? [String: Any]
        #expect((json?["students"] as? [Any])?.count == allMethods.count)
        // kd report rebuilds the same table and files from the finished runs, training nothing.
        for file in ["report.md", "report.json", "accuracy.svg"] { try FileManager.default.removeItem(atPath: tiny.folder.file("runs/tiny/" + file)) }
        let rebuilt = try run(tiny.kd, ["report", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(rebuilt.status == 0 && !rebuilt.error.contains("epoch"), "\(rebuilt.error)")
        #expect(try String(contentsOfFile: tiny.folder.file("runs/tiny/report.md"), encoding: .utf8) == report)
        #expect(FileManager.default.fileExists(atPath: tiny.folder.file("runs/tiny/accuracy.svg")))
        // The none student saw only its 100 labelled images an epoch.
        let none = try MetricsLog(path: tiny.folder.file("runs/tiny/students/none/seed0/metrics.jsonl")).records()
        #expect(none.count == 2 && none[0].imagesPerSecond > 0)
        // Each epoch records the agreement with the teacher; the summary reports the last one.
        let kdRecords = try MetricsLog(path: tiny.folder.file("runs/tiny/students/kd/seed0/metrics.jsonl")).records()
        let kdSummary = try JSONDecoder().decode(StudentRun.self, from: Data(contentsOf: URL(fileURLWithPath: tiny.folder.file("runs/tiny/students/kd/seed0/summary.json"))))
        #expect(kdRecords.last?.agreement == kdSummary.agreement && (0...1).contains(kdSummary.agreement ?? -1) && (kdSummary.agreement ?? 0) > 0)
        #expect(FileManager.default.fileExists(atPath: tiny.folder.file("runs/tiny/students/kd/seed0/events.out.tfevents.kd")))
        let chart = try String(contentsOfFile: tiny.folder.file("runs/tiny/accuracy.svg"), encoding: .utf8)
        #expect(chart.hasPrefix("<svg") && allMethods.allSatisfy { chart.contains(">\($0) ") })
        // CRD keeps its heads and memory banks with the student, so it resumes exactly.
        let crd = try HDF5File.open(tiny.folder.file("runs/tiny/students/crd/seed0/last.h5"))
        #expect(try crd.info("extra/crd.memory_student").shape == [300, 32] && (try crd.contains("optimizer/momentum_buffer/extra/crd.embed_s.weight")))
        #expect(result.output.contains("| teacher | - | mnist_teacher |"), "\(result.output)")
        // AB logs the share of firings that agree with the teacher's, per layer.
        let abInit = try MetricsLog(path: tiny.folder.file("runs/tiny/students/ab/seed0/init/metrics.jsonl")).records()
        let similarity = abInit.first?.extra ?? [:]
        #expect(similarity.keys.sorted() == ["activation_similarity/conv1", "activation_similarity/conv2", "activation_similarity/fc1"])
        #expect(similarity.values.allSatisfy { $0 > 0.3 && $0 <= 1 }, "\(similarity)")
    }

    @Test func fitnetHintStageChangesOnlyTheLayersUpToTheGuidedLayer() throws {
        let tiny = try TinyPipeline(trainCount: 300, testCount: 100, epochs: 1, arch: "mnist_teacher", extra: everyMethod)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let result = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml"), "--student", "fitnet"], currentDirectory: tiny.folder.path)
        #expect(result.status == 0, "\(result.error)")
        let initial = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0)
        let hinted = try HDF5File.open(tiny.folder.file("runs/tiny/students/fitnet/seed0/init/last.h5"))
        for (name, tensor) in initial.stateDict() {
            let changed = try hinted.dataset(name, as: Float.self).read() != tensor.scalars
            #expect(changed == (name.hasPrefix("conv1") || name.hasPrefix("conv2")), "\(name) changed: \(changed)")
        }
    }

    @Test func aDivergingStudentStopsAloneAndTheOthersGoOn() throws {
        let students = """
            cache: {batch_size: 64}
            students:
              - {name: wild, method: kd, arch: mnist_student, epochs: 2, batch_size: 32, seeds: [0], labels: 100,
                 optimizer: {lr: 1.0e12, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine},
                 terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}
              - {name: calm, method: none, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 50,
                 optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine},
                 terms: [{loss: ce, weight: 1}]}
            """
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: students)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let result = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        // The others finish and are reported; the stopped one is listed as stopped, and the exit status says so.
        #expect(result.status != 0, "\(result.error)")
        #expect(result.error.contains("wild seed 0 stopped") && result.error.contains("the loss is"), "\(result.error)")
        #expect(result.output.contains("| calm | none |"))
        #expect(result.output.contains("| wild | kd | mnist_student | - |") && result.output.contains("seed 0 stopped in epoch 1"), "\(result.output)")
        let report = try String(contentsOfFile: tiny.folder.file("runs/tiny/report.md"), encoding: .utf8)
        #expect(report.contains("seed 0 stopped in epoch 1"))
        // Each student has its own labelled subset (the first student's `labels` is not everyone's).
        let calm = try JSONDecoder().decode(StudentRun.self, from: Data(contentsOf: URL(fileURLWithPath: tiny.folder.file("runs/tiny/students/calm/seed0/summary.json"))))
        #expect(calm.labelledImages == 50)

        // A changed student configuration is refused with the way out, which then trains it again.
        let changed = try String(contentsOfFile: tiny.folder.file("tiny.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "name: calm, method: none, arch: mnist_student, epochs: 1", with: "name: calm, method: none, arch: mnist_student, epochs: 2")
        try changed.write(toFile: tiny.folder.file("tiny.yaml"), atomically: true, encoding: .utf8)
        let refused = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml"), "--student", "calm"], currentDirectory: tiny.folder.path)
        #expect(refused.error.contains("calm seed 0 stopped") && refused.error.contains("--restart"), "\(refused.error)")
        let restarted = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml"), "--student", "calm", "--restart"], currentDirectory: tiny.folder.path)
        #expect(restarted.status == 0, "\(restarted.error)")
        #expect(try MetricsLog(path: tiny.folder.file("runs/tiny/students/calm/seed0/metrics.jsonl")).records().count == 2)
    }

    @Test func cacheAndOnlineTeacherTrainTheSameWeights() throws {
        // Two epochs, so both cached views are read; between them the students use every group.
        let sgd = "optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5}"
        let students = everyMethod.components(separatedBy: "\nstudents:")[0] + """

            students:
              - {name: every-term, method: fitnet, arch: mnist_student, epochs: 2, batch_size: 32, seeds: [0], labels: 100, \(sgd),
                 init_stage: {kind: hint, epochs: 1, pairs: [[conv2, conv2]]},
                 terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}, {loss: at, weight: 50, pairs: [[conv1, conv1], [pool, pool]]},
                         {loss: at_grad, weight: 1}, {loss: dkd, weight: 0.1, alpha: 1, beta: 8, temperature: 4},
                         {loss: crd, weight: 0.8, dimension: 16, negatives: 64, temperature: 0.07, momentum: 0.5}]}
              - {name: ab, method: ab, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100, \(sgd),
                 init_stage: {kind: ab, epochs: 2, margin: 1, pairs: [[conv1, conv1], [conv2, conv2], [fc1, fc1]]},
                 terms: [{loss: ce, weight: 1}]}
            """
        let tiny = try TinyPipeline(trainCount: 160, testCount: 100, epochs: 1, arch: "mnist_teacher", extra: students)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let cached = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(cached.status == 0, "\(cached.error)")
        let online = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml"), "--online-teacher"], currentDirectory: tiny.folder.path)
        #expect(online.status == 0, "\(online.error)")
        #expect(online.output.contains("every-term seed 0 with the online teacher"), "\(online.output)")
        for student in ["every-term", "ab"] {
            let a = try HDF5File.open(tiny.folder.file("runs/tiny/students/\(student)/seed0/last.h5"))
            let b = try HDF5File.open(tiny.folder.file("runs/tiny/online/\(student)/seed0/last.h5"))
            let initial = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0)
            for (name, start) in initial.stateDict() {
                let (x, y) = (try a.dataset(name, as: Float.self).read(), try b.dataset(name, as: Float.self).read())
                let scale = x.map { Swift.abs($0) }.max()!
                let difference = zip(x, y).map { Swift.abs($0 - $1) }.max()!
                let moved = zip(x, start.scalars).map { Swift.abs($0 - $1) }.max()!
                // The live teacher sees other batches than precompute did, so its outputs differ in the
                // last float bits (GEMM blocking) and training carries that drift along: the two must
                // agree to within a hundredth of what training moved each tensor (a wrong row or view
                // moves them apart by about as much as training does).
                #expect(difference <= 1e-3 * scale && difference < moved / 100, "\(student) \(name): differs by \(difference), trained by \(moved)")
            }
        }
    }

    @Test func anInterruptedInitStageResumesToTheSameWeights() throws {
        let students = """
            cache: {batch_size: 64, boundary: [conv1, conv2, fc1]}
            students:
              - {name: ab, method: ab, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0],
                 optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
                 init_stage: {kind: ab, epochs: 3, margin: 1, pairs: [[conv1, conv1], [conv2, conv2], [fc1, fc1]]},
                 terms: [{loss: ce, weight: 1}]}
            """
        let tiny = try TinyPipeline(trainCount: 1000, testCount: 100, epochs: 1, extra: students)
        #expect(try tiny.teacher().status == 0)
        #expect(try tiny.precompute().status == 0)
        let arguments = ["distill", "--config", tiny.folder.file("tiny.yaml")]
        #expect(try run(tiny.kd, arguments, currentDirectory: tiny.folder.path).status == 0)
        let (runFolder, referenceFolder) = (tiny.folder.file("runs/tiny/students/ab/seed0"), tiny.folder.file("reference"))
        try FileManager.default.moveItem(atPath: runFolder, toPath: referenceFolder)

        // Killed after the first of three initialisation epochs, then run again.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tiny.kd)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: tiny.folder.path)
        (process.standardError, process.standardOutput) = (FileHandle.nullDevice, FileHandle.nullDevice)
        try process.run()
        // init/last.h5 appears (renamed into place) when the first epoch is saved.
        while process.isRunning, !FileManager.default.fileExists(atPath: runFolder + "/init/last.h5") { usleep(2000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect((try MetricsLog(path: runFolder + "/init/metrics.jsonl").records().count) < 3, "the initialisation finished before the kill")
        let resumed = try run(tiny.kd, arguments, currentDirectory: tiny.folder.path)
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("ab ab: resuming after epoch"), "\(resumed.output)")

        for (file, names) in [("init/last.h5", ["conv1.weight", "fc1.weight", "extra/connector0.0.weight", "extra/connector2.1.weight",
                                                "optimizer/momentum_buffer/extra/connector1.0.weight"]),
                              ("last.h5", ["conv1.weight", "conv2.weight", "fc2.bias"])] {
            let a = try HDF5File.open(referenceFolder + "/" + file), b = try HDF5File.open(runFolder + "/" + file)
            for name in names {
                #expect(try a.dataset(name, as: Float.self).read() == b.dataset(name, as: Float.self).read(), "\(file) \(name)")
            }
        }
    }

    @Test func aMissingGroupNamesTheMethodAndTheOption() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: "cache: {batch_size: 64}\n" + everyMethod.components(separatedBy: "\nstudents:").last.map { "students:" + $0 }!)
        // The pipeline is refused as a whole, before any work.
        let config = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(config.status != 0, "\(config.error)")
        // kd needs only the logits, which every cache holds; fitnet is the first to need more.
        #expect(config.error == "kd: pipeline tiny's cache settings: init_stage hint of students.fitnet needs /features/conv2, which this cache lacks: "
                + "add it with cache.features and run kd precompute (--force to replace the cache)\n", "\(config.error)")
        #expect(config.output.isEmpty && !FileManager.default.fileExists(atPath: tiny.folder.file("runs/tiny/teacher")), "work started: \(config.output)")
    }
}
