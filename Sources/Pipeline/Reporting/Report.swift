// The result table: every student's runs gathered from their summary.json files, aggregated over
// seeds (mean and sample standard deviation), compared with the baseline (the student that learns from labels alone), written as
// report.md and report.json under the run folder and printed.
import Foundation
import HDF5
import Checkpoints
import Datasets
import NN

/// One student aggregated over its seeds.
public struct StudentResult: Codable, Sendable {
    /// The student's name (`teacher` for the teacher's row).
    public var student: String
    /// The method label from the pipeline file.
    public var method: String
    /// The architecture.
    public var arch: String
    /// The model's parameter count.
    public var parameters: Int
    /// FLOPs of one forward pass (2 x multiply-adds).
    public var flopsPerImage: Int
    /// Training images whose labels it used.
    public var labelledImages: Int
    /// The seeds whose runs finished.
    public var seeds: [UInt64]
    /// Mean over seeds of the last epoch's test accuracy, in 0...1.
    public var lastAccuracyMean: Double
    /// Its sample standard deviation over seeds (0 for one seed).
    public var lastAccuracyStd: Double
    /// Mean over seeds of the best epoch's test accuracy, in 0...1.
    public var bestAccuracyMean: Double
    /// Mean over seeds of the share of test images where its class is the teacher's, in 0...1;
    /// nil for the teacher, and where the teacher's test predictions are unknown.
    public var agreementMean: Double?
    /// Training seconds summed over seeds (evaluation excluded).
    public var trainSeconds: Double
    /// Mean over seeds of the main stage's training images per second.
    public var imagesPerSecond: Double
    /// Last-epoch accuracy over the baseline's (the first student whose terms use labels only and
    /// that has no initialisation stage), in points; nil without one.
    public var gainOverNone: Double?
    /// Whether the gain exceeds the spread between seeds (the larger standard deviation of the two).
    public var gainExceedsSpread: Bool?
    /// The seeds that stopped before their last epoch (`seed 1 stopped in epoch 2`).
    public var stopped: [String] = []

    enum CodingKeys: String, CodingKey {
        case student, method, arch, parameters, seeds, agreementMean = "agreement_mean"
        case flopsPerImage = "flops_per_image", labelledImages = "labelled_images", lastAccuracyMean = "last_accuracy_mean"
        case lastAccuracyStd = "last_accuracy_std", bestAccuracyMean = "best_accuracy_mean", trainSeconds = "train_seconds"
        case imagesPerSecond = "images_per_second", gainOverNone = "gain_over_none_points", gainExceedsSpread = "gain_exceeds_spread"
        case stopped
    }
}

enum Report {
    /// Every finished run of the pipeline's students, aggregated per student.
    static func collect(_ config: PipelineConfig) throws -> [StudentResult] {
        let decoder = JSONDecoder()
        var results: [StudentResult] = []
        for student in config.students ?? [] {
            let folders = student.seeds.map { (seed: $0, folder: RunLayout(config).student(student.name, seed: $0)) }
            // A seed that stopped counts as stopped even when an older run of it finished.
            let stopped: [StoppedRun] = folders.compactMap { seed, folder in
                FileManager.default.contents(atPath: folder.stopped).flatMap { try? decoder.decode(StoppedRun.self, from: $0) }
            }
            let runs: [StudentRun] = folders.filter { seed, _ in !stopped.contains { $0.seed == seed } }.compactMap { _, folder in
                FileManager.default.contents(atPath: folder.summary).flatMap { try? decoder.decode(StudentRun.self, from: $0) }
            }
            let missing = folders.filter { seed, folder in
                !stopped.contains { $0.seed == seed } && !FileManager.default.fileExists(atPath: folder.summary)
            }
            let notes = stopped.map { "seed \($0.seed) stopped" + ($0.epoch.map { " in epoch \($0)" } ?? "") }
                + missing.map { "seed \($0.seed) not trained yet" }
            guard let first = runs.first else {
                if !stopped.isEmpty {
                    results.append(StudentResult(student: student.name, method: student.method, arch: student.arch, parameters: 0, flopsPerImage: 0,
                                                 labelledImages: 0, seeds: [], lastAccuracyMean: 0, lastAccuracyStd: 0, bestAccuracyMean: 0,
                                                 agreementMean: nil, trainSeconds: 0, imagesPerSecond: 0, gainOverNone: nil, gainExceedsSpread: nil,
                                                 stopped: notes))
                }
                continue
            }
            let last = runs.map(\.lastAccuracy)
            results.append(StudentResult(
                student: student.name, method: student.method, arch: student.arch, parameters: first.parameters,
                flopsPerImage: first.flopsPerImage, labelledImages: first.labelledImages, seeds: runs.map(\.seed),
                lastAccuracyMean: mean(last), lastAccuracyStd: standardDeviation(last), bestAccuracyMean: mean(runs.map(\.bestAccuracy)),
                agreementMean: runs.allSatisfy { $0.agreement != nil } ? mean(runs.compactMap(\.agreement)) : nil, trainSeconds: runs.reduce(0) { $0 + $1.trainSeconds },
                imagesPerSecond: mean(runs.map(\.imagesPerSecond)), gainOverNone: nil, gainExceedsSpread: nil, stopped: notes))
        }
        // The baseline: the first student that learns from labels alone.
        let baselineName = (config.students ?? []).first { !$0.usesTeacher && $0.initStage == nil }?.name
        if let baseline = results.first(where: { $0.student == baselineName && !$0.seeds.isEmpty }) {
            for index in results.indices where results[index].student != baselineName && !results[index].seeds.isEmpty {
                let gain = 100 * (results[index].lastAccuracyMean - baseline.lastAccuracyMean)
                results[index].gainOverNone = gain
                // With a single run on either side there is no spread to compare with.
                results[index].gainExceedsSpread = results[index].seeds.count < 2 || baseline.seeds.count < 2 ? nil
                    : Swift.abs(gain) > 100 * Swift.max(results[index].lastAccuracyStd, baseline.lastAccuracyStd)
            }
        }
        return results
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(Swift.max(1, values.count)) }

    static func standardDeviation(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }

    /// The teacher as a row of the table, from the checkpoint the cache is made from (its test
    /// accuracy, parameters and FLOPs) and the teacher's metrics.jsonl (best accuracy, training time and rate).
    static func teacherResult(_ config: PipelineConfig, images: Int) throws -> StudentResult {
        let teacherConfig: TrainingConfig
        switch config.teacherSource {
        case .trained(let settings): teacherConfig = settings
        case .external(let path): return try externalTeacherResult(path, images: images)
        }
        let layout = RunLayout(config)
        let checkpoint = layout.teacherCheckpoint(config.cacheSettings.teacherCheckpoint)
        let teacher = try LoadedTeacher(path: checkpoint, source: try openImageSource(config.data.train), arch: teacherConfig.arch,
                                        normalization: config.data.normalization)
        let model = teacher.model
        // A teacher trained elsewhere records no test accuracy: it is measured here.
        let accuracy = try Checkpoint.attributes(checkpoint)["test_accuracy"]?.doubleValue
            ?? evaluate(model, on: try ImageSet(path: config.data.test), normalization: teacher.normalization).accuracy
        // Its training metrics, when it was trained by kd, lie beside the checkpoint.
        let folder = RunFolder((checkpoint as NSString).deletingLastPathComponent)
        let records = (try? MetricsLog(path: folder.metrics).records()) ?? []
        let seconds = records.reduce(0) { $0 + $1.seconds }
        return StudentResult(student: "teacher", method: "-", arch: model.arch, parameters: model.parameterCount,
                             flopsPerImage: 2 * model.macsPerImage, labelledImages: images, seeds: [teacherConfig.seed],
                             lastAccuracyMean: accuracy, lastAccuracyStd: 0, bestAccuracyMean: records.map(\.testAccuracy).max() ?? accuracy,
                             agreementMean: nil, trainSeconds: seconds,
                             imagesPerSecond: seconds > 0 ? Double(records.count * images) / seconds : 0, gainOverNone: nil, gainExceedsSpread: nil)
    }

    /// An external teacher's row, from what its cache records: its description and parameters, and
    /// its test accuracy when the cache's writer measured it (else a row without numbers). FLOPs
    /// and training time are unknown.
    static func externalTeacherResult(_ path: String, images: Int) throws -> StudentResult {
        let teacher = try ForeignTeacher(file: try HDF5File.open(path))
        return StudentResult(student: "teacher", method: "external", arch: teacher.description, parameters: teacher.parameters ?? 0,
                             flopsPerImage: 0, labelledImages: images, seeds: teacher.testAccuracy == nil ? [] : [0],
                             lastAccuracyMean: teacher.testAccuracy ?? 0, lastAccuracyStd: 0, bestAccuracyMean: teacher.testAccuracy ?? 0,
                             agreementMean: nil, trainSeconds: 0, imagesPerSecond: 0, gainOverNone: nil, gainExceedsSpread: nil)
    }

    /// The markdown table: the teacher's row first, then the students'.
    static func table(_ results: [StudentResult]) -> String {
        let notes = results.contains { !$0.stopped.isEmpty }
        var lines = ["| run | method | arch | params | MFLOP/img | labels | seeds | last acc % (mean ± std) | best acc % | gain vs none | beyond spread | agreement % | train time | img/s |" + (notes ? " notes |" : ""),
                     "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |" + (notes ? " --- |" : "")]
        for r in results {
            let note = notes ? " \(r.stopped.joined(separator: "; ")) |" : ""
            guard !r.seeds.isEmpty else {
                lines.append("| \(r.student) | \(r.method) | \(r.arch) | - | - | - | 0 | - | - | - | - | - | - | - |" + note)
                continue
            }
            let gain = r.gainOverNone.map { String(format: "%+.2f", $0) } ?? "-"
            let beyond = r.gainExceedsSpread.map { $0 ? "yes" : "no" } ?? "-"
            let last = String(format: "%.2f", 100 * r.lastAccuracyMean) + (r.seeds.count > 1 ? String(format: " ± %.2f", 100 * r.lastAccuracyStd) : "")
            let agreement = r.agreementMean.map { String(format: "%.2f", 100 * $0) } ?? "-"
            // An external teacher's FLOPs (and perhaps parameters) are unknown: 0, shown as "-".
            lines.append("| \(r.student) | \(r.method) | \(r.arch) | \(r.parameters > 0 ? "\(r.parameters)" : "-") | "
                         + (r.flopsPerImage > 0 ? String(format: "%.2f", Double(r.flopsPerImage) / 1e6) : "-")
                         + " | \(r.labelledImages) | \(r.seeds.count) | \(last) | " + String(format: "%.2f", 100 * r.bestAccuracyMean)
                         + " | \(gain) | \(beyond) | \(agreement) | " + (r.trainSeconds > 0 ? formatDuration(r.trainSeconds) + " | " + String(format: "%.0f", r.imagesPerSecond) : "- | -")
                         + " |" + note)
        }
        return lines.joined(separator: "\n")
    }

    /// `report.md`, `report.json` and the chart under the run folder, from every finished run;
    /// returns the table.
    static func write(_ config: PipelineConfig, teacher: StudentResult) throws -> String {
        let layout = RunLayout(config)
        let results = try collect(config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        struct Document: Codable { var pipeline: String; var teacher: StudentResult; var students: [StudentResult] }
        try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
        try encoder.encode(Document(pipeline: config.name, teacher: teacher, students: results))
            .write(to: URL(fileURLWithPath: layout.reportJSON), options: .atomic)
        let table = table([teacher] + results)
        let text = "# \(config.name): distillation results\n\n" + table
            + "\n\nLast = test accuracy after the final epoch (the primary number); best = the best epoch's (optimistic). "
            + "Gain = last-accuracy mean minus the baseline's (the student trained on labels alone: `none`), in points; beyond spread = larger than both students' standard deviations over seeds. "
            + "Agreement = test images where the student's class is the teacher's. Train time and img/s: all seeds, training only (evaluation excluded); "
            + "a student's init stage counts in its time but not in its img/s.\n\n![test accuracy per epoch](accuracy.svg)\n"
        try text.write(toFile: layout.reportMarkdown, atomically: true, encoding: .utf8)
        let chart = AccuracyChart.svg(AccuracyChart.series(config), teacherAccuracy: teacher.seeds.isEmpty ? nil : teacher.lastAccuracyMean,
                                      title: "\(config.name): test accuracy per epoch (mean over seeds)")
        try chart.write(toFile: layout.chart, atomically: true, encoding: .utf8)
        return table
    }
}
