// `kd verify-cache`: recompute the teacher on cached rows (a foreign cache: VerifyForeignCache.swift) (a random sample, or every row with
// `all`) and compare every group within its tolerance, scan every float group for NaN/Inf, and
// check the fingerprints, the images and completeness. Each group's tolerance holds across BLAS
// kernels and machines (input gradients, which max-pool ties make non-unique, in norm per row
// rather than element by element).
import Datasets
import Foundation
import HDF5
import Tensor

/// One check of a cache: what was compared and whether it passed.
public struct CacheCheck: Sendable {
    /// What was checked (`teacher fingerprint`, `logits`, `finite input_grad`).
    public var name: String
    /// The measurement, in words.
    public var detail: String
    /// Whether it is within its limit.
    public var passed: Bool
    /// How close to failing: the largest measured error over its limit (above 1 fails).
    public var score: Double = 0

    /// A check; `score` defaults to 0 when it passed, 2 when it failed.
    public init(name: String, detail: String, passed: Bool, score: Double? = nil) {
        self.name = name
        self.detail = detail
        self.passed = passed
        self.score = score ?? (passed ? 0 : 2)
    }
}

/// `kd verify-cache`: checks a cache against the teacher and dataset it records.
public enum VerifyCache {
    /// Checks the cache at `path` against its teacher and dataset (from its attributes; `data`
    /// names the images when they have moved): `samples` random rows, or every row of every view
    /// with `all` (with a progress bar). A foreign cache gets every check but the recomputation.
    public static func run(path: String, data: String? = nil, samples: Int = 64, seed: UInt64 = 0, all: Bool = false) throws -> [CacheCheck] {
        let file = try HDF5File.open(path)
        if try ForeignTeacher.isForeign(file) { return try foreign(file: file, path: path, data: data) }
        func text(_ key: String) throws -> String {
            guard let value = try file.attribute(key).stringValue else { throw HDF5Error(file: path, object: "/", message: "attribute \(key) is not text") }
            return value
        }
        let source = try openImageSource(try data ?? text("dataset_path"))
        let arch = try file.hasAttribute("teacher_arch") ? try file.attribute("teacher_arch").stringValue : nil
        let cachedNormalization = try file.hasAttribute("input_mean") && file.hasAttribute("input_std")
            ? Normalization(mean: try file.attribute("input_mean").doublesValue ?? [], std: try file.attribute("input_std").doublesValue ?? []) : nil
        let teacher = try LoadedTeacher(path: try text("teacher_checkpoint"), source: source, arch: arch, normalization: cachedNormalization)
        let settings = try JSONDecoder().decode(CacheConfig.self, from: Data(try text("cache_config").utf8))
        let imageShape = [source.height, source.width, source.channels]
        let schema = try CacheSchema(settings: settings, teacher: teacher.model, imageShape: imageShape, classes: source.classNames.count, file: path)
        let layout = CacheLayout(count: source.count, views: settings.views, imageShape: imageShape, batchSize: settings.batchSize, schema: schema)
        let marks = try file.dataset("skipped", as: UInt8.self).read()
        let skipped = Set(marks.indices.filter { marks[$0] != 0 })
        var checks: [CacheCheck] = []
        checks.append(CacheCheck(name: "teacher fingerprint", detail: "sha256 \(teacher.sha256.prefix(16))… of \(teacher.path)",
                                 passed: try text("teacher_sha256") == teacher.sha256))
        let fingerprint = try datasetFingerprint(source, skipBad: !skipped.isEmpty)
        checks.append(CacheCheck(name: "dataset fingerprint", detail: "\(fingerprint.prefix(16))… of \(source.path)",
                                 passed: fingerprint == (try text("dataset_fingerprint"))))
        let progress = try file.dataset("progress", as: UInt8.self).read()
        let finished = progress.filter { $0 != 0 }.count
        checks.append(CacheCheck(name: "complete", detail: "\(finished) of \(progress.count) batches finished", passed: finished == progress.count))
        let stored = try CacheSchema(file: file)
        let same = stored.groups.map(\.datasets).map { $0.map { "\($0.path) \($0.type) \($0.row)" } } == schema.groups.map(\.datasets).map { $0.map { "\($0.path) \($0.type) \($0.row)" } }
        checks.append(CacheCheck(name: "layout", detail: "\(stored.groups.count) groups" + (same ? ", as the cache settings describe" : " differ from what the cache settings describe"), passed: same))
        for dataset in schema.groups.flatMap(\.datasets) where dataset.type.isFloat {
            let bad = dataset.type == .float16 ? try countNonFinite(file.dataset(dataset.path, as: Float16.self))
                                               : try countNonFinite(file.dataset(dataset.path, as: Float.self))
            checks.append(CacheCheck(name: "finite \(dataset.path)", detail: bad == 0 ? "no NaN or Inf" : "\(bad) NaN or Inf values", passed: bad == 0))
        }
        var generator = SeededGenerator(seed: seed)
        let rows: [(view: Int, image: Int)] = all
            ? (0..<layout.views).flatMap { view in (0..<layout.count).map { (view, $0) } }
            : (0..<Swift.min(samples, layout.count * layout.views)).map { _ in
                (Int.random(in: 0..<layout.views, using: &generator), Int.random(in: 0..<layout.count, using: &generator))
            }
        let recomputed = try Recomputation(file: file, layout: layout, teacher: teacher, source: source, padding: settings.augment.cropPadding)
        checks += try recomputed.check(rows.filter { !skipped.contains($0.image) }, progress: all)
        return checks
    }

    /// The checks as printed: one aligned line each (`ok` or `FAIL`), then the verdict.
    public static func describe(_ checks: [CacheCheck], cache: String) -> String {
        let width = checks.map(\.name.count).max() ?? 10
        let lines = checks.map { ($0.passed ? "ok    " : "FAIL  ") + $0.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.detail }
        let failed = checks.filter { !$0.passed }.count
        return (lines + [failed == 0 ? "\(cache): all \(checks.count) checks passed" : "\(cache): \(failed) of \(checks.count) checks FAILED"])
            .joined(separator: "\n")
    }

    /// Non-finite values in a `[V, N, ...]` group, read a view's block of rows at a time.
    static func countNonFinite<T: HDF5Element & BinaryFloatingPoint>(_ dataset: Dataset<T>) throws -> Int {
        let shape = try dataset.shape
        var bad = 0
        for view in 0..<shape[0] {
            for start in stride(from: 0, to: shape[1], by: 1024) {
                let rows = Swift.min(1024, shape[1] - start)
                let values = try dataset.read(offset: [view, start] + shape.dropFirst(2).map { _ in 0 },
                                              count: [1, rows] + shape.dropFirst(2))
                bad += values.filter { !$0.isFinite }.count
            }
        }
        return bad
    }
}

/// The teacher run again on cached rows, batch by batch, each group compared with its tolerance;
/// a check's result over many batches is its worst batch's.
private struct Recomputation {
    let file: HDF5File
    let layout: CacheLayout
    let teacher: LoadedTeacher
    let source: any ImageSource
    let padding: Int
    let runner: TeacherRunner
    let views: [[View]]

    init(file: HDF5File, layout: CacheLayout, teacher: LoadedTeacher, source: any ImageSource, padding: Int) throws {
        (self.file, self.layout, self.teacher, self.source, self.padding) = (file, layout, teacher, source, padding)
        runner = TeacherRunner(model: teacher.model, schema: layout.schema)
        views = try readViews(file, count: layout.count, views: layout.views, padding: padding)
    }

    func check(_ rows: [(view: Int, image: Int)], progress: Bool) throws -> [CacheCheck] {
        var worst: [String: CacheCheck] = [:], order: [String] = []
        let bar = progress ? ProgressBar("verify-cache", total: rows.count) : nil
        let batchSize = 256
        for start in stride(from: 0, to: rows.count, by: batchSize) {
            let batch = Array(rows[start..<Swift.min(rows.count, start + batchSize)])
            for check in try checkBatch(batch) {
                if worst[check.name] == nil { order.append(check.name) }
                if worst[check.name].map({ check.score > $0.score || (!check.passed && $0.passed) }) ?? true { worst[check.name] = check }
            }
            bar?.update(start + batch.count)
        }
        bar?.finish()
        return order.map { name in
            var check = worst[name]!
            if rows.count > batchSize { check.detail += " (worst batch of \(rows.count) rows)" }
            return check
        }
    }

    private func checkBatch(_ picks: [(view: Int, image: Int)]) throws -> [CacheCheck] {
        let images = picks.map(\.image)
        // The source's pixels must be the cache's; the teacher then reads the cache's own images.
        let cachedImages = try file.dataset("images", as: UInt8.self).read(rowIndices: images)
        let sourceImages = try source.batch(images).pixels
        var checks = [CacheCheck(name: "images", detail: "\(picks.count) rows equal to \(source.path)", passed: cachedImages == sourceImages)]
        let input = cachedImages.withUnsafeBufferPointer { pixels in
            makeInputs(pixels, imageShape: layout.imageShape, indices: Array(0..<picks.count), normalization: teacher.normalization,
                       views: picks.map { views[$0.view][$0.image] }, padding: padding)
        }
        let live = runner.rows(input)
        for (group, recomputed) in zip(layout.schema.groups, live) {
            let cached = try group.datasets.map { dataset in
                joined(try picks.map { pick in
                    try readValues(file, dataset.path, type: dataset.type, offset: [pick.view, pick.image] + dataset.row.map { _ in 0 },
                                   count: [1, 1] + dataset.row)
                })
            }
            checks += group.verify(cached: cached, live: recomputed)
        }
        return checks
    }
}
