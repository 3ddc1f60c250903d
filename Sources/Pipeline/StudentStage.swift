// `kd distill`: every configured student, trained from the cache alone (the teacher is run only
// once, to know its test-set predictions for the agreement column), seed by seed, with an
// optional initialisation stage, then a report comparing them.
import Checkpoints
import Datasets
import Foundation
import HDF5
import Losses
import NN
import Optimizers
import Tensor

/// The outcome of one student with one seed.
public struct StudentRun: Codable, Sendable {
    public var student: String
    public var method: String
    public var arch: String
    public var seed: UInt64
    public var parameters: Int
    public var flopsPerImage: Int
    public var labelledImages: Int
    public var bestAccuracy: Double
    public var bestEpoch: Int
    public var lastAccuracy: Double
    /// Share of test images where the student's class is the teacher's.
    public var agreement: Double
    /// Training seconds of both stages (evaluation excluded); `imagesPerSecond` is the main stage's.
    public var trainSeconds: Double
    public var imagesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case student, method, arch, seed, parameters, agreement
        case flopsPerImage = "flops_per_image", labelledImages = "labelled_images", bestAccuracy = "best_accuracy"
        case bestEpoch = "best_epoch", lastAccuracy = "last_accuracy", trainSeconds = "train_seconds", imagesPerSecond = "images_per_second"
    }
}

/// What `kd distill` runs and how.
public struct DistillOptions: Sendable {
    /// Only this student / only this seed.
    public var student: String?
    public var seed: UInt64?
    /// Compute the teacher's targets live instead of reading the cache; runs go to `runs/<name>/online/`.
    public var onlineTeacher = false
    /// Train the chosen runs from scratch instead of resuming or reusing them.
    public var restart = false

    public init() {}
}

public enum StudentStage {
    /// Trains the students (all, or the one asked for) and writes the report.
    @discardableResult
    public static func run(_ config: PipelineConfig, configText: String, options: DistillOptions) throws -> [StudentRun] {
        let students = (config.students ?? []).filter { options.student == nil || $0.name == options.student }
        guard !students.isEmpty else {
            throw ConfigError(file: "pipeline \(config.name)", message: options.student.map { "no student called '\($0)'" } ?? "no students: add a students: section")
        }
        try validatePlan(config)
        let tasks = students.flatMap { student in
            student.seeds.filter { options.seed == nil || $0 == options.seed }.map { (student: student, seed: $0) }
        }
        // Precompute may not rewrite the cache while students read it.
        let cacheLock = try RunLock(config.cachePath + ".lock", target: config.cachePath, shared: true)
        defer { withExtendedLifetime(cacheLock) {} }
        let context = try DistillContext(config, onlineTeacher: options.onlineTeacher)
        // Every student's methods against this cache, before any training.
        for student in students { _ = try PreparedStudent(student, context: context, seed: student.seeds[0]) }
        var runs: [StudentRun] = []
        var stopped: [StoppedRun] = []
        for (student, seed) in tasks {
            let folder = directory(config, student, seed: seed, online: options.onlineTeacher)
            do {
                runs.append(try train(student, seed: seed, context: context, config: config, configText: configText,
                                      online: options.onlineTeacher, restart: options.restart))
                try? FileManager.default.removeItem(atPath: folder + "/" + StoppedRun.file)
            } catch let error as TrainingError {
                // A diverging student stops alone; the others go on, and the report lists it.
                FileHandle.standardError.write(Data("distill: \(student.name) seed \(seed) stopped: \(error)\n".utf8))
                let run = StoppedRun(student: student.name, seed: seed, epoch: error.epoch, reason: error.message)
                try run.write(to: folder)
                stopped.append(run)
            }
        }
        defer { if !stopped.isEmpty { FileHandle.standardError.write(Data("distill: \(stopped.count) of \(tasks.count) runs stopped\n".utf8)) } }
        if options.onlineTeacher {
            for run in runs {
                print(String(format: "%@ seed %llu with the online teacher: last %.2f%%, best %.2f%%, %@ training, %.0f img/s", run.student,
                             run.seed, 100 * run.lastAccuracy, 100 * run.bestAccuracy, formatDuration(run.trainSeconds), run.imagesPerSecond))
            }
            if let first = stopped.first { throw StoppedRunsError(runs: stopped, first: first) }
            return runs
        }
        let all = try Report.collect(config)
        try Report.write(all, teacher: context.teacherResult, config: config)
        print(Report.table([context.teacherResult] + all))
        if let first = stopped.first { throw StoppedRunsError(runs: stopped, first: first) }
        return runs
    }

    /// Checks every student's methods against the cache the pipeline's settings describe, with a
    /// freshly made teacher of its architecture: a missing group or a wrong name is found before
    /// the teacher is trained or the cache written. Needs the training images (for their shape).
    public static func validatePlan(_ config: PipelineConfig) throws {
        guard let students = config.students, !students.isEmpty else { return }
        let source = try openImageSource(config.data.train)
        let file = "pipeline \(config.name)"
        let make = { (arch: String) in
            try Models.make(arch, classes: source.classNames.count, inChannels: source.channels, imageSize: source.height, seed: 0)
        }
        let schema = try CacheSchema(settings: config.cacheSettings, teacher: try make(config.teacher.arch),
                                     imageShape: [source.height, source.width, source.channels], classes: source.classNames.count, file: file)
        for student in students {
            let model = try make(student.arch)
            let probe = GradMode.withoutGrad { model.forward(Tensor.zeros([2, source.channels, source.height, source.width]), upto: nil) }
            _ = try PreparedStudent(student, setup: TermSetup(owner: "students.\(student.name)", file: file, student: model, probe: probe,
                                                              schema: schema, cachePath: "\(file)'s cache settings", images: source.count, seed: 0))
        }
    }

    /// Where one student's seed writes its checkpoints and metrics.
    static func directory(_ config: PipelineConfig, _ student: StudentConfig, seed: UInt64, online: Bool = false) -> String {
        config.runDirectory + (online ? "/online/" : "/students/") + "\(student.name)/seed\(seed)"
    }

    /// Trains one student with one seed: the initialisation stage if any, then the main stage.
    static func train(_ student: StudentConfig, seed: UInt64, context: DistillContext, config: PipelineConfig,
                      configText: String, online: Bool, restart: Bool) throws -> StudentRun {
        let folder = directory(config, student, seed: seed, online: online)
        let lock = try RunLock(folder + "/.lock", target: folder)
        defer { withExtendedLifetime(lock) {} }
        let prepared = try PreparedStudent(student, context: context, seed: seed)
        let model = prepared.model
        let labelled = context.labelled(student.labels)
        print("student \(student.name) (\(student.method), \(student.arch), \(model.parameterCount) parameters), seed \(seed), "
              + "\(labelled.indices.count) labelled images")
        let attributes = TeacherStage.checkpointAttributes(config, classes: context.classes, configText: configText)
        var initSeconds = 0.0
        if let (entry, stage) = prepared.initStage {
            var settings = student.training(seed: seed)
            settings.epochs = entry.epochs
            if let lr = entry.lr { settings.optimizer.lr = lr }
            let trainer = context.trainer(model, config: settings, folder: folder + "/init", stage: "\(student.name) \(type(of: entry.stage).kind)",
                                          attributes: attributes, indices: nil)
            trainer.settingsText = student.settings(seed: seed, stage: "init_stage")
            trainer.extraParameters = stage.parameters
            trainer.epochMetrics = stage.epochMetrics
            initSeconds = try trainer.run(restart: restart) { input, indices, step in
                let output = model.forward(input, upto: stage.depth)
                let batch = context.batch(input: input, output: output, indices: indices, labels: labelled.mask, step: step)
                return (try stage.loss(batch), (output.logits ?? Tensor.zeros([indices.count, context.classes.count])).detached)
            }.trainSeconds
        }
        let trainer = context.trainer(model, config: student.training(seed: seed), folder: folder, stage: student.name,
                                      attributes: attributes, indices: student.usesTeacher ? nil : labelled.indices)
        trainer.settingsText = student.settings(seed: seed, stage: "main")
        trainer.teacherPredictions = context.teacherPredictions
        trainer.extraParameters = prepared.terms.flatMap { $0.prepared.parameters }
        trainer.extraState = prepared.terms.flatMap { $0.prepared.state }
        var last: StudentBatch?
        trainer.afterStep = { for term in prepared.terms { term.prepared.finishStep(last!) } }
        let differentiatesInput = prepared.terms.contains { $0.prepared.differentiatesInput }
        let summary = try trainer.run(restart: restart) { input, indices, step in
            if differentiatesInput { input.requiresGrad = true }
            let batch = context.batch(input: input, output: model.forward(input, upto: nil), indices: indices, labels: labelled.mask, step: step)
            last = batch
            let total = try prepared.terms.reduce(Tensor(0)) { total, term in
                total + term.entry.weight(epoch: step.epoch, of: student.epochs, progress: step.progress) * (try term.prepared.loss(batch))
            }
            return (total, batch.logits)
        }
        let run = StudentRun(student: student.name, method: student.method, arch: student.arch, seed: seed,
                             parameters: model.parameterCount, flopsPerImage: 2 * model.macsPerImage,
                             labelledImages: labelled.indices.count, bestAccuracy: summary.bestAccuracy, bestEpoch: summary.bestEpoch,
                             lastAccuracy: summary.lastAccuracy, agreement: summary.lastAgreement ?? 0,
                             trainSeconds: initSeconds + summary.trainSeconds, imagesPerSecond: summary.imagesPerSecond)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(run).write(to: URL(fileURLWithPath: folder + "/summary.json"), options: .atomic)
        return run
    }
}

/// A run that stopped before its last epoch, recorded as `stopped.json` in its folder.
struct StoppedRun: Codable, Sendable {
    static let file = "stopped.json"
    var student: String
    var seed: UInt64
    var epoch: Int?
    var reason: String

    func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder + "/" + Self.file), options: .atomic)
    }
}

/// Some runs stopped: `kd distill` exits non-zero after writing the report.
public struct StoppedRunsError: Error, CustomStringConvertible {
    let runs: [StoppedRun]
    let first: StoppedRun
    public var description: String {
        "\(runs.count) run(s) stopped, first \(first.student) seed \(first.seed): \(first.reason)"
    }
}

extension StudentConfig {
    /// What identifies one seed's stage in its checkpoints: the whole student, the seed and the stage.
    func settings(seed: UInt64, stage: String) -> String {
        struct Settings: Encodable { var student: StudentConfig; var seed: UInt64; var stage: String }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(Settings(student: self, seed: seed, stage: stage))) ?? Data(), as: UTF8.self)
    }
}

/// A student's methods bound to one fresh model: its main-stage terms and its initialisation stage.
struct PreparedStudent {
    let model: any Classifier
    let terms: [(entry: WeightedTerm, prepared: any PreparedTerm)]
    let initStage: (entry: InitStageEntry, stage: any PreparedInitStage)?

    /// Binds `student`'s methods to `setup` (its model, cache and seed), checking every name and shape.
    init(_ student: StudentConfig, setup: TermSetup) throws {
        model = setup.student
        terms = try student.terms.map { ($0, try $0.term.prepare(setup)) }
        initStage = try student.initStage.map { ($0, try $0.stage.prepare(setup)) }
    }

    /// A fresh model of `student` for `seed`, bound to `context`'s cache.
    init(_ student: StudentConfig, context: DistillContext, seed: UInt64) throws {
        let model = try Models.make(student.arch, classes: context.classes.count, inChannels: context.train.channels,
                                    imageSize: context.train.height, seed: seed)
        try self.init(student, setup: context.setup(student, model: model, seed: seed))
    }
}

extension DistillContext {
    /// One batch as a student's terms see it: labels only where `labelled` says so.
    func batch(input: Tensor, output: ModelOutput, indices: [Int], labels labelled: [Bool], step: TrainingStep) -> StudentBatch {
        StudentBatch(input: input, output: output, indices: indices, labels: indices.map { labelled[$0] ? Int(train.labels[$0]) : -1 },
                     epoch: step.epoch, progress: step.progress, step: step.global,
                     teacher: TeacherRows(source: targets, view: view(epoch: step.epoch), indices: indices))
    }
}
