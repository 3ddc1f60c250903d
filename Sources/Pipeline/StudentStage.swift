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
        let tasks = students.flatMap { student in
            student.seeds.filter { options.seed == nil || $0 == options.seed }.map { (student: student, seed: $0) }
        }
        let context = try DistillContext(config, onlineTeacher: options.onlineTeacher)
        var runs: [StudentRun] = []
        for (student, seed) in tasks {
            do {
                runs.append(try train(student, seed: seed, context: context, config: config, configText: configText,
                                      online: options.onlineTeacher, restart: options.restart))
            } catch let error as TrainingError {
                // A diverging student stops alone; the others go on.
                FileHandle.standardError.write(Data("distill: \(student.name) seed \(seed) stopped: \(error)\n".utf8))
            }
        }
        if options.onlineTeacher {
            for run in runs {
                print(String(format: "%@ seed %llu with the online teacher: last %.2f%%, best %.2f%%, %@ training, %.0f img/s", run.student,
                             run.seed, 100 * run.lastAccuracy, 100 * run.bestAccuracy, formatDuration(run.trainSeconds), run.imagesPerSecond))
            }
            return runs
        }
        let all = try Report.collect(config)
        try Report.write(all, teacher: context.teacherResult, config: config)
        print(Report.table([context.teacherResult] + all))
        return runs
    }

    /// Where one student's seed writes its checkpoints and metrics.
    static func directory(_ config: PipelineConfig, _ student: StudentConfig, seed: UInt64, online: Bool = false) -> String {
        config.runDirectory + (online ? "/online/" : "/students/") + "\(student.name)/seed\(seed)"
    }

    /// Trains one student with one seed: the initialisation stage if any, then the main stage.
    static func train(_ student: StudentConfig, seed: UInt64, context: DistillContext, config: PipelineConfig,
                      configText: String, online: Bool, restart: Bool) throws -> StudentRun {
        let folder = directory(config, student, seed: seed, online: online)
        let model = try Models.make(student.arch, classes: context.classes.count, inChannels: context.train.channels,
                                    imageSize: context.train.height, seed: seed)
        let labelled = context.labelled(student.labels)
        print("student \(student.name) (\(student.method), \(student.arch), \(model.parameterCount) parameters), seed \(seed), "
              + "\(labelled.indices.count) labelled images")
        let attributes = TeacherStage.checkpointAttributes(config, classes: context.classes, configText: configText)
        var initSeconds = 0.0
        if let stage = student.initStage {
            initSeconds = try initialise(model, stage: stage, student: student, seed: seed, context: context, folder: folder + "/init",
                                         attributes: attributes, restart: restart).trainSeconds
        }
        let trainer = context.trainer(model, config: student.training(seed: seed), folder: folder, stage: student.name,
                                      attributes: attributes, indices: student.method == "none" ? labelled.indices : nil)
        trainer.teacherPredictions = context.teacherPredictions
        let summary = try trainer.run(restart: restart) { input, indices, epoch in
            try mainLoss(model, student: student, input: input, indices: indices, epoch: epoch, isLabelled: labelled.mask, context: context)
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

    /// The main stage's loss: the weighted terms of the student's configuration.
    static func mainLoss(_ model: any Classifier, student: StudentConfig, input: Tensor, indices: [Int], epoch: Int,
                         isLabelled: [Bool], context: DistillContext) throws -> (loss: Tensor, logits: Tensor) {
        let view = (epoch - 1) % context.views
        let needsInputGrad = student.terms.contains { $0.loss == "at_grad" }
        if needsInputGrad { input.requiresGrad = true }
        let output = model.forward(input, upto: nil)
        let logits = output.logits!
        var total = Tensor(0)
        for term in student.terms {
            let weight = term.weight(epoch: epoch, of: student.epochs)
            switch term.loss {
            case "ce":
                total = total + weight * crossEntropy(logits: logits, labels: indices.map { isLabelled[$0] ? Int(context.train.labels[$0]) : -1 })
            case "kd":
                let teacher = try context.targets.rows("logits", view: view, indices: indices)
                total = total + weight * softTargetLoss(studentLogits: logits, teacherLogits: teacher, temperature: term.temperature ?? 4)
            case "at":
                for pair in term.pairs ?? [] {
                    let stage = model.stageIndex(pair[0])! - 1
                    let teacher = try context.targets.rows("attention/" + pair[1], view: view, indices: indices)
                    total = total + weight * attentionTransferLoss(student: attentionMap(output.features[stage]), teacher: teacher)
                }
            default: // at_grad
                let labels = indices.map { Int(context.train.labels[$0]) }
                let studentGrad = gradients(of: crossEntropy(logits: logits, labels: labels) * Double(indices.count), wrt: [input], createGraph: true)[0]
                let teacher = try context.targets.inputGradients(view: view, indices: indices)
                total = total + weight * inputGradientLoss(student: studentGrad, teacher: teacher)
            }
        }
        return (total, logits)
    }

    /// FitNet's hint stage or the activation-boundary initialisation, through connectors.
    static func initialise(_ model: any Classifier, stage: InitStage, student: StudentConfig, seed: UInt64, context: DistillContext,
                           folder: String, attributes: [String: AttributeValue], restart: Bool) throws -> TrainingSummary {
        var generator = SeededGenerator(seed: seed &+ 101)
        let probe = GradMode.withoutGrad { model.forward(Tensor.zeros([2, context.train.channels, context.train.height, context.train.width]), upto: nil) }
        var connectors: [Sequential] = []
        var points: [(student: Int, teacher: String, shape: [Int])] = []
        for pair in stage.pairs {
            let teacherShape: [Int]
            let studentShape: [Int]
            let index: Int
            if stage.kind == "hint" {
                guard let stageIndex = model.stageIndex(pair[0]) else {
                    throw ConfigError(file: context.pipelineName, message: "students.\(student.name): \(student.arch) has no stage '\(pair[0])'; its stages are \(model.stageNames.joined(separator: ", "))")
                }
                index = stageIndex - 1
                studentShape = Array(probe.features[index].shape.dropFirst())
                teacherShape = Array(try context.reader.file.info("features/" + pair[1]).shape.dropFirst(2))
            } else {
                guard let pointIndex = model.preActivationNames.firstIndex(of: pair[0]) else {
                    throw ConfigError(file: context.pipelineName, message: "students.\(student.name): \(student.arch) has no pre-activation '\(pair[0])'; its points are \(model.preActivationNames.joined(separator: ", "))")
                }
                index = pointIndex
                studentShape = Array(probe.preActivations[index].shape.dropFirst())
                let bits = try context.reader.file.dataset("boundary/" + pair[1], as: UInt8.self)
                let (c, h, w) = (Int(try bits.attribute("C").intValue ?? 0), Int(try bits.attribute("H").intValue ?? 1), Int(try bits.attribute("W").intValue ?? 1))
                teacherShape = studentShape.count == 1 ? [c] : [c, h, w]
            }
            guard studentShape.count == teacherShape.count, studentShape.dropFirst().elementsEqual(teacherShape.dropFirst()) else {
                throw ConfigError(file: context.pipelineName, message: "students.\(student.name): cannot connect student \(pair[0]) \(studentShape) to teacher \(pair[1]) \(teacherShape): the spatial sizes must match")
            }
            let (inChannels, outChannels) = (studentShape[0], teacherShape[0])
            var layers: [any Layer] = studentShape.count == 1
                ? [Linear(inChannels, outChannels, bias: false, generator: &generator), BatchNorm(outChannels)]
                : [Conv2d(inChannels, outChannels, kernel: 1, bias: false, generator: &generator), BatchNorm(outChannels)]
            if stage.kind == "hint" { layers.append(ReLU()) }
            connectors.append(Sequential(layers))
            points.append((index, pair[1], teacherShape))
        }
        var config = student.training(seed: seed)
        config.epochs = stage.epochs
        if let lr = stage.lr { config.optimizer.lr = lr }
        let trainer = context.trainer(model, config: config, folder: folder, stage: "\(student.name) \(stage.kind)",
                                      attributes: attributes, indices: nil)
        trainer.extraParameters = connectors.enumerated().flatMap { index, connector in
            connector.namedParameters(prefix: "connector\(index).")
        }
        let deepest = (points.map(\.student).max() ?? 0) + 1
        let margin = stage.margin ?? 1
        // AB: per layer, teacher-agreeing firings and elements seen this epoch.
        var agreements = [(agree: Int, total: Int)](repeating: (0, 0), count: points.count)
        if stage.kind == "ab" {
            trainer.epochMetrics = {
                defer { agreements = agreements.map { _ in (0, 0) } }
                let names = stage.pairs.map { "activation_similarity/" + $0[0] }
                return Dictionary(uniqueKeysWithValues: zip(names, agreements.map { Double($0.agree) / Double(Swift.max(1, $0.total)) }))
            }
        }
        return try trainer.run(restart: restart) { input, indices, epoch in
            let view = (epoch - 1) % context.views
            let output = model.forward(input, upto: stage.kind == "hint" ? deepest : nil)
            var total = Tensor(0)
            for (k, point) in points.enumerated() {
                if stage.kind == "hint" {
                    let hint = try context.targets.rows("features/" + point.teacher, view: view, indices: indices)
                    total = total + hintLoss(prediction: connectors[k](output.features[point.student]), hint: hint)
                } else {
                    let firing = try context.targets.firing(point.teacher, view: view, indices: indices, shape: point.shape)
                    let weight = 1 / Foundation.pow(2, Double(points.count - 1 - k))
                    let connected = connectors[k](output.preActivations[point.student])
                    total = total + weight * activationBoundaryLoss(connected: connected, teacherFiring: firing, margin: margin)
                    agreements[k].agree += Tensor.signAgreements(connected, mask: firing)
                    agreements[k].total += firing.count
                }
            }
            let logits = output.logits ?? Tensor.zeros([indices.count, context.classes.count])
            return (total, logits.detached)
        }
    }
}
