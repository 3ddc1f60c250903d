// `kd distill`: every configured student, trained from the cache alone (the teacher is run only
// once, to know its test-set predictions for the agreement column, unless `--online-teacher`
// computes its targets live), seed by seed, with an optional initialisation stage, then a report
// comparing them. Under `mpirun` the (student, seed) runs are dealt to the ranks, and data-parallel
// students train on every rank at once; rank 0 writes the report when all are done.
import Cluster
import Datasets
import Foundation
import HDF5
import NN
import Parallel
import Tensor

/// The outcome of one student with one seed.
public struct StudentRun: Codable, Sendable {
    /// The student's name.
    public var student: String
    /// The method label from the pipeline file.
    public var method: String
    /// The architecture.
    public var arch: String
    /// The run's seed.
    public var seed: UInt64
    /// The student's parameter count.
    public var parameters: Int
    /// FLOPs of one forward pass (2 x multiply-adds).
    public var flopsPerImage: Int
    /// Training images whose labels the student used.
    public var labelledImages: Int
    /// The best epoch's test accuracy, in 0...1.
    public var bestAccuracy: Double
    /// That epoch (1-based).
    public var bestEpoch: Int
    /// The last epoch's test accuracy, in 0...1.
    public var lastAccuracy: Double
    /// Share of test images where the student's class is the teacher's; nil when the teacher's
    /// test predictions are unknown (a foreign cache written without test images).
    public var agreement: Double?
    /// Training seconds of both stages (evaluation excluded); `imagesPerSecond` is the main stage's.
    public var trainSeconds: Double
    /// The main stage's training images per second.
    public var imagesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case student, method, arch, seed, parameters, agreement
        case flopsPerImage = "flops_per_image", labelledImages = "labelled_images", bestAccuracy = "best_accuracy"
        case bestEpoch = "best_epoch", lastAccuracy = "last_accuracy", trainSeconds = "train_seconds", imagesPerSecond = "images_per_second"
    }
}

/// What `kd distill` runs and how.
public struct DistillOptions: Sendable {
    /// Only this student.
    public var student: String?
    /// Only this seed.
    public var seed: UInt64?
    /// Compute the teacher's targets live instead of reading the cache; runs go to `runs/<name>/online/`.
    public var onlineTeacher = false
    /// Train the chosen runs from scratch instead of resuming or reusing them.
    public var restart = false
    /// Compute threads per run; the same seed and count give the same weights.
    public var threads = ComputeThreads.count
    /// The ranks of an MPI launch, when started by one: runs are dealt to them.
    public var world: MPIWorld?
    /// Train every student that can data-parallel over the ranks (as `data_parallel: true` on
    /// each); the others are dealt, saying why.
    public var dataParallel = false

    /// Every student and seed, resumed, on all cores.
    public init() {}
}

/// `kd distill`: trains the students from the cache, then writes and prints the report.
public enum DistillStage {
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
        let layout = RunLayout(config)
        let cacheLock = try RunLock(layout.cacheLock, target: layout.cache, shared: true)
        defer { withExtendedLifetime(cacheLock) {} }
        let context = try DistillContext(config, onlineTeacher: options.onlineTeacher)
        let world = options.world
        // Every student's methods against this cache, before any training, and who trains data-parallel.
        var dataParallel: Set<String> = []
        for student in students {
            let prepared = try PreparedStudent(student, context: context, seed: student.seeds[0])
            try student.validateDataParallel(prepared, file: "pipeline \(config.name)")
            guard student.dataParallel == true || options.dataParallel else { continue }
            if let obstacle = student.dataParallelObstacle(prepared) {
                if (world?.rank ?? 0) == 0 { print("distill: \(student.name) trains on one rank per run: \(obstacle)") }
            } else {
                dataParallel.insert(student.name)
            }
        }
        let together = { (student: StudentConfig) in dataParallel.contains(student.name) }
        // Data-parallel runs first, every rank in each; then the others, dealt round the ranks.
        let shared = tasks.filter { together($0.student) }, dealt = tasks.filter { !together($0.student) }
        let mine = shared + dealt.enumerated().filter { $0.offset % (world?.size ?? 1) == (world?.rank ?? 0) }.map(\.element)
        var runs: [StudentRun] = []
        var stopped: [StoppedRun] = []
        var failure: Error?
        for (student, seed) in mine {
            let group = together(student) ? world : nil
            let leads = (group?.rank ?? 0) == 0
            let folder = layout.student(student.name, seed: seed, online: options.onlineTeacher)
            do {
                let (start, summed) = (Date(), group?.sumSeconds ?? 0)
                runs.append(try train(student, seed: seed, context: context, config: config, configText: configText, folder: folder,
                                      restart: options.restart, threads: options.threads, group: group))
                if let group, leads {
                    let seconds = Date().timeIntervalSince(start), inSums = group.sumSeconds - summed
                    print(String(format: "%@ seed %llu: %@ of %@ in MPI sums over %d ranks (%.1f%%: gradients, batch-norm statistics, "
                                 + "evaluation, and waiting for the slowest rank)", student.name, seed, formatDuration(inSums),
                                 formatDuration(seconds), group.size, 100 * inSums / Swift.max(seconds, 1e-9)))
                }
                if leads { try? FileManager.default.removeItem(atPath: folder.stopped) }
            } catch let error as TrainingError {
                // A diverging student stops alone; the others go on, and the report lists it.
                // Data-parallel, every rank stops at the same batch; rank 0 records it.
                guard leads else { continue }
                FileHandle.standardError.write(Data("distill: \(student.name) seed \(seed) stopped: \(error)\n".utf8))
                let run = StoppedRun(student: student.name, seed: seed, epoch: error.epoch, reason: error.message)
                try run.write(to: folder)
                stopped.append(run)
            } catch {
                // The other ranks of a data-parallel run would wait for this one for ever.
                if let group = world, together(student) { group.abort("distill: \(student.name) seed \(seed): \(error)") }
                guard world != nil else { throw error }
                failure = error
                break
            }
        }
        defer { if !stopped.isEmpty { FileHandle.standardError.write(Data("distill: \(stopped.count) of \(tasks.count) runs stopped\n".utf8)) } }
        var stoppedElsewhere = 0
        if let world {
            // Rank 0 reports once every rank is done; a rank that failed lost only its unfinished runs.
            let failed = try world.sum(failure == nil ? 0 : 1), stoppedAnywhere = try world.sum(stopped.count)
            if let failure { throw failure }
            guard failed == 0 else {
                throw ClusterFailure(message: "\(failed) of \(world.size) ranks failed (their errors above); rerun to resume their runs")
            }
            guard world.rank == 0 else {
                if let first = stopped.first { throw StoppedRunsError(runs: stopped, first: first) }
                return runs
            }
            stoppedElsewhere = stoppedAnywhere - stopped.count
        }
        if options.onlineTeacher {
            for run in runs {
                print(String(format: "%@ seed %llu with the online teacher: last %.2f%%, best %.2f%%, %@ training, %.0f img/s", run.student,
                             run.seed, 100 * run.lastAccuracy, 100 * run.bestAccuracy, formatDuration(run.trainSeconds), run.imagesPerSecond))
            }
        } else {
            print(try ReportStage.run(config))
        }
        if let first = stopped.first { throw StoppedRunsError(runs: stopped, first: first) }
        if stoppedElsewhere > 0 { throw ClusterFailure(message: "\(stoppedElsewhere) run(s) stopped on other ranks (their stopped.json)") }
        return runs
    }

    /// Checks every student's methods against the cache the pipeline's settings describe, with a
    /// freshly made teacher of its architecture: a missing group or a wrong name is found before
    /// the teacher is trained or the cache written. Needs the training images (for their shape).
    /// A foreign cache (`cache.external`) is checked against the groups it holds.
    public static func validatePlan(_ config: PipelineConfig) throws {
        guard let students = config.students, !students.isEmpty else { return }
        let source = try openImageSource(config.data.train)
        let file = "pipeline \(config.name)"
        let make = { (arch: String) in
            try Models.make(arch, classes: source.classNames.count, inChannels: source.channels, imageSize: source.height, seed: 0)
        }
        let schema: CacheSchema
        switch config.teacherSource {
        case .trained(let teacher):
            schema = try CacheSchema(settings: config.cacheSettings, teacher: try make(teacher.arch),
                                     imageShape: [source.height, source.width, source.channels], classes: source.classNames.count, file: file)
        case .external(let path):
            // A foreign cache's groups are what it holds.
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConfigError(file: path, message: "no such file: the foreign cache cache.external names (scripts/precompute_pytorch.py writes one)")
            }
            schema = try CacheSchema(file: try HDF5File.open(path))
        }
        for student in students {
            let model = try make(student.arch)
            let probe = GradMode.withoutGrad { model.forward(Tensor.zeros([2, source.channels, source.height, source.width]), upto: nil) }
            let prepared = try PreparedStudent(student, setup: TermSetup(owner: "students.\(student.name)", file: file, student: model, probe: probe,
                                                                         schema: schema, cachePath: "\(file)'s cache settings", images: source.count, seed: 0))
            try student.validateDataParallel(prepared, file: file)
        }
    }

    /// Trains one student with one seed in `folder`: the initialisation stage if any, then the
    /// main stage; data-parallel over `group` when given (rank 0 then locks and writes the folder).
    static func train(_ student: StudentConfig, seed: UInt64, context: DistillContext, config: PipelineConfig,
                      configText: String, folder: RunFolder, restart: Bool, threads: Int, group: (any ProcessGroup)? = nil) throws -> StudentRun {
        let leads = (group?.rank ?? 0) == 0
        let lock = leads ? try RunLock(folder.lock, target: folder.path) : nil
        defer { withExtendedLifetime(lock) {} }
        let prepared = try PreparedStudent(student, context: context, seed: seed)
        let model = prepared.model
        let labelled = context.labelled(student.labels)
        if leads { print("student \(student.name) (\(student.method), \(student.arch), \(model.parameterCount) parameters), seed \(seed), "
              + "\(labelled.indices.count) labelled images" + (group.map { ", data-parallel over \($0.size) ranks" } ?? "")) }
        let attributes = TeacherStage.checkpointAttributes(config, classes: context.classes, configText: configText)
        var initSeconds = 0.0
        if let (entry, stage) = prepared.initStage {
            var settings = student.training(seed: seed)
            settings.epochs = entry.epochs
            if let lr = entry.lr { settings.optimizer.lr = lr }
            let trainer = context.trainer(model, config: settings, folder: folder.initStage, name: "\(student.name) \(type(of: entry.stage).kind)",
                                          attributes: attributes, indices: nil, threads: threads)
            trainer.settingsText = student.settings(seed: seed, stage: "init_stage")
            trainer.group = group
            trainer.extraParameters = stage.parameters
            trainer.epochMetrics = stage.epochMetrics
            initSeconds = try trainer.run(restart: restart) { input, indices, step in
                let output = model.forward(input, upto: stage.depth)
                let batch = context.batch(input: input, output: output, indices: indices, labels: labelled.mask, step: step)
                return (try stage.loss(batch), (output.logits ?? Tensor.zeros([indices.count, context.classes.count])).detached)
            }.trainSeconds
        }
        let trainer = context.trainer(model, config: student.training(seed: seed), folder: folder, name: student.name,
                                      attributes: attributes, indices: student.usesTeacher ? nil : labelled.indices, threads: threads)
        trainer.settingsText = student.settings(seed: seed, stage: "main")
        trainer.group = group
        trainer.teacherPredictions = context.teacherPredictions
        trainer.extraParameters = prepared.terms.flatMap { $0.prepared.parameters }
        trainer.extraState = prepared.terms.flatMap { $0.prepared.state }
        var last: StudentBatch?
        trainer.afterStep = { for term in prepared.terms { term.prepared.finishStep(last!) } }
        let differentiatesInput = prepared.terms.contains { $0.prepared.differentiatesInput }
        var termMeans = TermMeans(names: prepared.terms.map { type(of: $0.entry.term).name })
        trainer.epochMetrics = { termMeans.finishEpoch() }
        let summary = try trainer.run(restart: restart) { input, indices, step in
            if differentiatesInput { input.requiresGrad = true }
            let batch = context.batch(input: input, output: model.forward(input, upto: nil), indices: indices, labels: labelled.mask, step: step)
            last = batch
            let values = try prepared.terms.map { try $0.prepared.loss(batch) }
            termMeans.add(values.map { Double($0.item) }, count: indices.count)
            let total = zip(prepared.terms, values).reduce(Tensor(0)) { total, term in
                let weight = term.0.entry.weight(epoch: step.epoch, of: student.epochs, progress: step.progress)
                return total + weight * splitBatchWeight(type(of: term.0.entry.term).averagedImages, indices: indices, step: step, labelled: labelled.mask) * term.1
            }
            return (total, batch.logits)
        }
        let run = StudentRun(student: student.name, method: student.method, arch: student.arch, seed: seed,
                             parameters: model.parameterCount, flopsPerImage: 2 * model.macsPerImage,
                             labelledImages: labelled.indices.count, bestAccuracy: summary.bestAccuracy, bestEpoch: summary.bestEpoch,
                             lastAccuracy: summary.lastAccuracy, agreement: summary.lastAgreement,
                             trainSeconds: initSeconds + summary.trainSeconds, imagesPerSecond: summary.imagesPerSecond)
        guard leads else { return run }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(run).write(to: URL(fileURLWithPath: folder.summary), options: .atomic)
        return run
    }
}

/// 1 alone. Data-parallel, the trainer weights each process's loss by its share of the batch's
/// images; a term averaging over the labelled images alone is reweighted to its share of those.
func splitBatchWeight(_ averaged: AveragedImages, indices: [Int], step: TrainingStep, labelled: [Bool]) -> Double {
    guard indices.count != step.wholeBatch.count else { return 1 }
    switch averaged {
    case .all:
        return 1
    case .labelled:
        let own = indices.filter { labelled[$0] }.count, all = step.wholeBatch.filter { labelled[$0] }.count
        guard all > 0 else { return 0 }
        return (Double(own) / Double(all)) * (Double(step.wholeBatch.count) / Double(indices.count))
    }
}

/// Each term's unweighted value averaged over an epoch's images, recorded as `loss/<term>` in
/// the epoch's metrics (a second term of the same loss is `loss/<term>#2`).
struct TermMeans {
    let keys: [String]
    private var sums: [Double]
    private var images = 0

    init(names: [String]) {
        keys = names.enumerated().map { index, name in
            let earlier = names[..<index].filter { $0 == name }.count
            return "loss/" + name + (earlier == 0 ? "" : "#\(earlier + 1)")
        }
        sums = Array(repeating: 0, count: names.count)
    }

    /// Adds one batch's term values (one per term, in order) for `count` images.
    mutating func add(_ values: [Double], count: Int) {
        for index in values.indices { sums[index] += values[index] * Double(count) }
        images += count
    }

    /// The epoch's means, starting the next epoch from zero.
    mutating func finishEpoch() -> [String: Double] {
        defer { (sums, images) = (Array(repeating: 0, count: keys.count), 0) }
        return Dictionary(uniqueKeysWithValues: zip(keys, sums.map { $0 / Double(Swift.max(images, 1)) }))
    }
}

/// A run that stopped before its last epoch, recorded as `stopped.json` in its folder.
struct StoppedRun: Codable, Sendable {
    var student: String
    var seed: UInt64
    var epoch: Int?
    var reason: String

    func write(to folder: RunFolder) throws {
        try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(self).write(to: URL(fileURLWithPath: folder.stopped), options: .atomic)
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
    /// What identifies one seed's stage in its checkpoints: the whole student, the seed and the
    /// stage; not whether it trains data-parallel, which gives the same weights.
    func settings(seed: UInt64, stage: String) -> String {
        struct Settings: Encodable { var student: StudentConfig; var seed: UInt64; var stage: String }
        var student = self
        student.dataParallel = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(Settings(student: student, seed: seed, stage: stage))) ?? Data(), as: UTF8.self)
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
