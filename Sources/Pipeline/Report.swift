// The result table: every student's runs gathered from their summary.json files, aggregated over
// seeds (mean and sample standard deviation), compared with the baseline (the student that learns from labels alone), written as
// report.md and report.json under the run folder and printed.
import Foundation
import NN

/// One student aggregated over its seeds.
public struct StudentResult: Codable, Sendable {
    public var student: String
    public var method: String
    public var arch: String
    public var parameters: Int
    public var flopsPerImage: Int
    public var labelledImages: Int
    public var seeds: [UInt64]
    public var lastAccuracyMean: Double
    public var lastAccuracyStd: Double
    public var bestAccuracyMean: Double
    public var agreementMean: Double
    public var trainSeconds: Double
    public var imagesPerSecond: Double
    /// Last-epoch accuracy over the baseline's (the first student whose terms use labels only), in
    /// points; nil without one.
    public var gainOverNone: Double?
    /// Whether the gain exceeds the spread between seeds (the larger standard deviation of the two).
    public var gainExceedsSpread: Bool?
    /// The seeds that stopped before their last epoch, and why (`seed 1: epoch 2, ...`).
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
            let folders = student.seeds.map { (seed: $0, folder: StudentStage.directory(config, student, seed: $0)) }
            // A seed that stopped counts as stopped even when an older run of it finished.
            let stopped: [StoppedRun] = folders.compactMap { seed, folder in
                FileManager.default.contents(atPath: folder + "/" + StoppedRun.file).flatMap { try? decoder.decode(StoppedRun.self, from: $0) }
            }
            let runs: [StudentRun] = folders.filter { seed, _ in !stopped.contains { $0.seed == seed } }.compactMap { _, folder in
                FileManager.default.contents(atPath: folder + "/summary.json").flatMap { try? decoder.decode(StudentRun.self, from: $0) }
            }
            let notes = stopped.map { "seed \($0.seed) stopped" + ($0.epoch.map { " in epoch \($0)" } ?? "") }
            guard let first = runs.first else {
                if !stopped.isEmpty {
                    results.append(StudentResult(student: student.name, method: student.method, arch: student.arch, parameters: 0, flopsPerImage: 0,
                                                 labelledImages: 0, seeds: [], lastAccuracyMean: 0, lastAccuracyStd: 0, bestAccuracyMean: 0,
                                                 agreementMean: 0, trainSeconds: 0, imagesPerSecond: 0, gainOverNone: nil, gainExceedsSpread: nil,
                                                 stopped: notes))
                }
                continue
            }
            let last = runs.map(\.lastAccuracy)
            results.append(StudentResult(
                student: student.name, method: student.method, arch: student.arch, parameters: first.parameters,
                flopsPerImage: first.flopsPerImage, labelledImages: first.labelledImages, seeds: runs.map(\.seed),
                lastAccuracyMean: mean(last), lastAccuracyStd: standardDeviation(last), bestAccuracyMean: mean(runs.map(\.bestAccuracy)),
                agreementMean: mean(runs.map(\.agreement)), trainSeconds: runs.reduce(0) { $0 + $1.trainSeconds },
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

    /// The teacher as a row of the table: `accuracy` as measured now, best accuracy, training
    /// time and rate from its metrics.jsonl.
    static func teacherResult(_ config: PipelineConfig, model: any Classifier, accuracy: Double, images: Int) -> StudentResult {
        let records = (try? MetricsLog(path: config.teacherDirectory + "/metrics.jsonl").records()) ?? []
        let seconds = records.reduce(0) { $0 + $1.seconds }
        return StudentResult(student: "teacher", method: "-", arch: model.arch, parameters: model.parameterCount,
                             flopsPerImage: 2 * model.macsPerImage, labelledImages: images, seeds: [config.teacher.seed],
                             lastAccuracyMean: accuracy, lastAccuracyStd: 0, bestAccuracyMean: records.map(\.testAccuracy).max() ?? accuracy,
                             agreementMean: 1, trainSeconds: seconds,
                             imagesPerSecond: seconds > 0 ? Double(records.count * images) / seconds : 0, gainOverNone: nil, gainExceedsSpread: nil)
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
            let agreement = r.student == "teacher" ? "-" : String(format: "%.2f", 100 * r.agreementMean)
            lines.append("| \(r.student) | \(r.method) | \(r.arch) | \(r.parameters) | " + String(format: "%.2f", Double(r.flopsPerImage) / 1e6)
                         + " | \(r.labelledImages) | \(r.seeds.count) | \(last) | " + String(format: "%.2f", 100 * r.bestAccuracyMean)
                         + " | \(gain) | \(beyond) | \(agreement) | \(formatDuration(r.trainSeconds)) | " + String(format: "%.0f", r.imagesPerSecond) + " |" + note)
        }
        return lines.joined(separator: "\n")
    }

    /// `report.md` and `report.json` under the run folder.
    static func write(_ results: [StudentResult], teacher: StudentResult, config: PipelineConfig) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        struct Document: Codable { var pipeline: String; var teacher: StudentResult; var students: [StudentResult] }
        try encoder.encode(Document(pipeline: config.name, teacher: teacher, students: results))
            .write(to: URL(fileURLWithPath: config.runDirectory + "/report.json"), options: .atomic)
        let text = "# \(config.name): distillation results\n\n" + table([teacher] + results)
            + "\n\nLast = test accuracy after the final epoch (the primary number); best = the best epoch's (optimistic). "
            + "Gain = last-accuracy mean minus the baseline's (the student trained on labels alone: `none`), in points; beyond spread = larger than both students' standard deviations over seeds. "
            + "Agreement = test images where the student's class is the teacher's. Train time and img/s: all seeds, training only (evaluation excluded); "
            + "a student's init stage counts in its time but not in its img/s.\n\n![test accuracy per epoch](accuracy.svg)\n"
        try text.write(toFile: config.runDirectory + "/report.md", atomically: true, encoding: .utf8)
        let chart = AccuracyChart.svg(AccuracyChart.series(config), teacherAccuracy: teacher.lastAccuracyMean,
                                      title: "\(config.name): test accuracy per epoch (mean over seeds)")
        try chart.write(toFile: config.runDirectory + "/accuracy.svg", atomically: true, encoding: .utf8)
    }
}
