// Methods as types: a method defined in this test target alone trains end to end; the defects the
// string-matched methods hid (labels leaking into gradient AT, the student's attention maps made
// with other settings than the teacher's, a missing layer crashing, top-k caches refused); and
// unknown names as errors listing the known ones.
import Checkpoints
import Foundation
import HDF5
import Losses
import NN
@testable import Pipeline
import Tensor
import Testing
import TestSupport
import Yams

/// A method that exists only in this test target: the mean squared error between student and
/// teacher logits. Nothing outside this type and its registration knows about it.
struct LogitMatchingTerm: LossTerm {
    static let name = "logit_mse_test"

    func prepare(_ setup: TermSetup) throws -> any PreparedTerm { Prepared(logits: try setup.logits(for: "the logit_mse_test term")) }

    final class Prepared: PreparedTerm {
        let group: any LogitsGroup
        init(logits: any LogitsGroup) { group = logits }
        func loss(_ batch: StudentBatch) throws -> Tensor { meanSquaredError(batch.logits, try batch.teacher.logits(group)) }
    }
}

/// A tiny pipeline with a trained teacher and a cache (made by the `kd` executable).
func cachedPipeline(_ cache: String, trainCount: Int = 300) throws -> TinyPipeline {
    let tiny = try TinyPipeline(trainCount: trainCount, testCount: 100, epochs: 1, extra: cache)
    #expect(try tiny.teacher().status == 0)
    let precompute = try tiny.precompute()
    #expect(precompute.status == 0, "\(precompute.error)")
    return tiny
}

/// The pipeline file of `tiny` with `students` appended, loaded.
func withStudents(_ tiny: TinyPipeline, _ students: String) throws -> (PipelineConfig, String) {
    let text = try String(contentsOfFile: tiny.folder.file("tiny.yaml"), encoding: .utf8) + "\n" + students
    try text.write(toFile: tiny.folder.file("students.yaml"), atomically: true, encoding: .utf8)
    return try PipelineConfig.load(tiny.folder.file("students.yaml"))
}

/// One `inside` at a time: the working directory belongs to the whole test process.
private let workingDirectory = NSLock()

/// Runs `body` with the working directory set to `folder` (pipelines write under runs/ there),
/// one such body at a time across suites, so `body` must not call `inside` again. (Programs the
/// tests start get their own directory: `run`.)
func inside<R>(_ folder: TemporaryFolder, _ body: () throws -> R) rethrows -> R {
    workingDirectory.lock()
    defer { workingDirectory.unlock() }
    let previous = FileManager.default.currentDirectoryPath
    _ = FileManager.default.changeCurrentDirectoryPath(folder.path)
    defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
    return try body()
}

let testSGD = "optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5}"

@Suite(.serialized) struct MethodTests {
    @Test func aMethodDefinedOutsideThePipelineModuleTrainsEndToEnd() throws {
        Methods.register(LogitMatchingTerm.self)
        let tiny = try cachedPipeline("cache: {batch_size: 64}")
        let (config, text) = try withStudents(tiny, """
            students:
              - {name: mse, method: logit-mse, arch: mnist_student, epochs: 2, batch_size: 32, seeds: [0], \(testSGD),
                 terms: [{loss: logit_mse_test, weight: 1}]}
            """)
        var options = DistillOptions()
        options.student = "mse"
        let runs = try inside(tiny.folder) { try DistillStage.run(config, configText: text, options: options) }
        #expect(runs.count == 1)

        // The term moved the student's logits towards the teacher's cached ones.
        let reader = try CacheReader(path: tiny.cachePath)
        let set = try ImageSet(path: tiny.cachePath)
        let indices = Array(0..<300)
        let teacher = try reader.schema.logits(file: tiny.cachePath, for: "test")
        let cached = teacher.logits(try reader.rows(of: teacher, view: 0, indices: indices), count: 300)
        let normalization = Normalization(mean: [0.286], std: [0.353])
        func distance(_ model: any Classifier) -> Double {
            model.train(false)
            return GradMode.withoutGrad { meanSquaredError(model(set.batch(indices, normalization: normalization)), cached).item }
        }
        let initial = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0)
        let trained = try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 0)
        try Checkpoint.load(tiny.folder.file("runs/tiny/students/mse/seed0/last.h5"), into: trained)
        let (before, after) = (distance(initial), distance(trained))
        #expect(after < before / 2, "logit distance to the teacher: \(before) before, \(after) after")
    }

    @Test func gradientATUsesNoLabelOfAnImage() throws {
        let tiny = try cachedPipeline("cache: {batch_size: 64, input_grad: true}")
        do {
            let (config, _) = try withStudents(tiny, "")
            let context = try inside(tiny.folder) { try DistillContext(config) }
            let student = try StudentConfig.decoded("""
                {name: g, method: at-grad, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 10, \(testSGD),
                 terms: [{loss: at_grad, weight: 1}]}
                """)
            let prepared = try PreparedStudent(student, context: context, seed: 0)
            let indices = Array(0..<64)
            func loss(labels: [Bool]) throws -> Double {
                let input = context.train.batch(indices, normalization: context.normalization)
                input.requiresGrad = true
                let batch = context.batch(input: input, output: prepared.model.forward(input, upto: nil), indices: indices, labels: labels,
                                          step: TrainingStep(epoch: 1, batch: 0, batches: 1, wholeBatch: indices))
                return try prepared.terms[0].prepared.loss(batch).item
            }
            let none = try loss(labels: [Bool](repeating: false, count: 300)), all = try loss(labels: [Bool](repeating: true, count: 300))
            #expect(none == all && none > 0, "with no labels \(none), with every label \(all)")

            // Formed with the dataset's labels instead, as before, the term differs: the test can tell.
            let input = context.train.batch(indices, normalization: context.normalization)
            input.requiresGrad = true
            let logits = prepared.model.forward(input, upto: nil).logits!
            let studentGrad = gradients(of: crossEntropy(logits: logits, labels: indices.map { Int(context.train.labels[$0]) }) * 64, wrt: [input], createGraph: true)[0]
            let group = try context.reader.schema.group(InputGradient.self, named: "input_grad", file: "", for: "")
            let teacherGrad = group.gradients(try context.reader.rows(of: group, view: 0, indices: indices), count: 64)
            let withLabels = inputGradientLoss(student: studentGrad, teacher: teacherGrad).item
            #expect(Swift.abs(withLabels - none) > 1e-6 * none, "with labels \(withLabels), without \(none)")
        }

        // A cache whose input gradients were taken against the labels is refused by name.
        let file = try HDF5File.open(tiny.cachePath, mode: .readWrite)
        try file.dataset("input_grad", as: Float16.self).setAttribute("class", "label")
        let refused = #expect(throws: (any Error).self) { try CacheReader(path: tiny.cachePath) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("input_grad") && "\(refused.map { "\($0)" } ?? "")".contains("teacher's predicted class"))
    }

    @Test func theStudentsAttentionMapsUseTheCachedModeAndPower() throws {
        let tiny = try cachedPipeline("cache: {batch_size: 64, attention: {layers: [conv1, pool], mode: max_p, p: 4}}")
        let (config, _) = try withStudents(tiny, "")
        let context = try inside(tiny.folder) { try DistillContext(config) }
        // The student is the teacher itself: its maps, made as the cache's, match the cached ones exactly.
        let student = try StudentConfig.decoded("""
            {name: a, method: at, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], \(testSGD),
             terms: [{loss: at, weight: 1, pairs: [[conv1, conv1], [pool, pool]]}]}
            """)
        let prepared = try PreparedStudent(student, context: context, seed: 0)
        try Checkpoint.load(tiny.teacherDirectory + "/last.h5", into: prepared.model)
        let indices = Array(0..<64)
        let input = context.train.batch(indices, normalization: context.normalization)
        let output = prepared.model.forward(input, upto: nil)
        let batch = context.batch(input: input, output: output, indices: indices, labels: [Bool](repeating: true, count: 300),
                                  step: TrainingStep(epoch: 1, batch: 0, batches: 1, wholeBatch: indices))
        let loss = try prepared.terms[0].prepared.loss(batch).item
        #expect(loss < 1e-10, "the teacher against its own maps: \(loss)")
        // With the default maps (sum_p, p = 2) for the student, as before, the same images differ.
        let group = try context.reader.schema.group(AttentionMaps.self, named: "attention/conv1", file: "", for: "")
        #expect(group.mode == .maxP && group.p == 4)
        let cached = group.tensor(try context.reader.rows(of: group, view: 0, indices: indices), count: 64)
        let mismatched = attentionTransferLoss(student: attentionMap(output.features[0]), teacher: cached).item
        #expect(mismatched > 1e-5, "default maps against max_p maps: \(mismatched)")
    }

    @Test func aLayerTheStudentLacksIsAConfigurationErrorBeforeTheTeacherTrains() throws {
        let tiny = try TinyPipeline(trainCount: 200, testCount: 100, epochs: 1, extra: """
            cache: {batch_size: 64, attention: {layers: [conv1]}}
            students:
              - {name: at, method: at, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], \(testSGD),
                 terms: [{loss: ce, weight: 1}, {loss: at, weight: 50, pairs: [[conv9, conv1]]}]}
            """)
        let result = try tiny.teacher()
        #expect(result.status != 0)
        #expect(result.error.contains("students.at: at pair [conv9, conv1]: mnist_student has no layer 'conv9'; its layers are conv1, conv2, pool"),
                "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: tiny.teacherDirectory + "/last.h5"))
    }

    @Test func aTopKCacheTrainsAKDStudent() throws {
        let tiny = try cachedPipeline("""
            cache: {batch_size: 64, top_k: 3}
            students:
              - {name: kd, method: kd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100, \(testSGD),
                 terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}
            """)
        let result = try run(tiny.kd, ["distill", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("| kd | kd | mnist_student |"), "\(result.output)")
        let file = try HDF5File.open(tiny.cachePath)
        #expect(try file.info("logits_topk/indices").typeName.contains("8") && !(try file.contains("logits")))
    }

    @Test func topKLogitsKeepTheKeptProbabilitiesAndSpreadTheRest() throws {
        var generator = SeededGenerator(seed: 3)
        let logits = Tensor.randomNormal([4, 10], std: 3, generator: &generator)
        let pass = TeacherPass(layerNames: [], pointNames: [], output: ModelOutput(logits: logits, features: [], preActivations: []), inputGradient: nil)
        let exact = logits.softmax(axis: 1).doubles
        for k in [3, 10] {
            let group = TopKLogits(k: k, classes: 10)
            let probabilities = group.logits(group.rows(from: pass), count: 4).softmax(axis: 1).doubles
            #expect(group.predictedClasses(group.rows(from: pass), count: 4) == argmaxRows(logits))
            for image in 0..<4 {
                let row = Array(exact[(image * 10)..<((image + 1) * 10)]), ours = Array(probabilities[(image * 10)..<((image + 1) * 10)])
                let kept = row.indices.sorted { row[$0] > row[$1] }.prefix(k)
                for c in kept { #expect(Swift.abs(ours[c] - row[c]) < 1e-6, "k \(k) class \(c)") }
                let rest = (1 - kept.reduce(0) { $0 + row[$1] }) / Double(10 - k)
                for c in 0..<10 where !kept.contains(c) { #expect(Swift.abs(ours[c] - rest) < 1e-6) }
                #expect(Swift.abs(ours.reduce(0, +) - 1) < 1e-6)
            }
        }
    }

    @Test func unknownNamesListTheKnownOnes() throws {
        let folder = TemporaryFolder()
        func error(_ student: String, cache: String = "") throws -> String {
            let text = """
                name: t
                data: {train: a.h5, test: b.h5, mean: [0.5], std: [0.5]}
                teacher: {arch: mnist_student, epochs: 1, batch_size: 8, seed: 0, augment: {crop_padding: 0, flip: false},
                          optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0, schedule: cosine}}
                \(cache)
                students:
                  - {name: s, method: kd, arch: mnist_student, epochs: 1, batch_size: 8, seeds: [0], \(testSGD), \(student)}
                """
            try text.write(toFile: folder.file("p.yaml"), atomically: true, encoding: .utf8)
            do { _ = try PipelineConfig.load(folder.file("p.yaml")) } catch { return "\(error)" }
            return "loaded"
        }
        let loss = try error("terms: [{loss: kdd, weight: 1}]")
        #expect(loss.contains("unknown loss 'kdd'; known: ce, kd, at, at_grad, dkd, dist, crd"), "\(loss)")
        let stage = try error("terms: [{loss: ce, weight: 1}], init_stage: {kind: hints, epochs: 1, pairs: []}")
        #expect(stage.contains("unknown init_stage kind 'hints'; known: hint, ab"), "\(stage)")
        let mode = try error("terms: [{loss: ce, weight: 1}]", cache: "cache: {attention: {layers: [conv1], mode: sum_q, p: 2}}")
        #expect(mode.contains("unknown value 'sum_q'; known: sum_p, sum, max_p"), "\(mode)")
    }
}

extension StudentConfig {
    /// One student entry written as YAML.
    static func decoded(_ yaml: String) throws -> StudentConfig { try YAMLDecoder().decode(StudentConfig.self, from: yaml) }
}
