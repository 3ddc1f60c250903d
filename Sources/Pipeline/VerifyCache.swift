// `kd verify-cache`: recompute the teacher on a random sample of cached rows and compare every
// group, scan every float group for NaN/Inf, and check the fingerprints and completeness.
import Datasets
import Foundation
import HDF5
import NN
import Tensor

/// One check of a cache: what was compared and whether it passed.
public struct CacheCheck: Sendable {
    public var name: String
    public var detail: String
    public var passed: Bool
}

public enum VerifyCache {
    /// Checks the cache at `path` against its teacher and dataset (from its attributes unless given).
    public static func run(path: String, samples: Int = 64, seed: UInt64 = 0) throws -> [CacheCheck] {
        let file = try HDF5File.open(path)
        func text(_ key: String) throws -> String {
            guard let value = try file.attribute(key).stringValue else { throw HDF5Error(file: path, object: "/", message: "attribute \(key) is not text") }
            return value
        }
        let source = try openImageSource(try text("dataset_path"))
        let teacher = try LoadedTeacher(path: try text("teacher_checkpoint"), source: source)
        let settings = try JSONDecoder().decode(CacheConfig.self, from: Data(try text("cache_config").utf8))
        let imageShape = [source.height, source.width, source.channels]
        let schema = try CacheSchema(settings: settings, teacher: teacher.model, imageShape: imageShape, classes: source.classNames.count, file: path)
        let runner = TeacherRunner(model: teacher.model, schema: schema)
        let layout = CacheLayout(count: source.count, views: settings.views, imageShape: imageShape, batchSize: settings.batchSize, schema: schema)
        var checks: [CacheCheck] = []
        let storedTeacher = try text("teacher_sha256")
        checks.append(CacheCheck(name: "teacher fingerprint", detail: "sha256 \(teacher.sha256.prefix(16))… of \(teacher.path)",
                                 passed: storedTeacher == teacher.sha256))
        let fingerprint = try PrecomputeStage.datasetFingerprint(source)
        checks.append(CacheCheck(name: "dataset fingerprint", detail: "\(fingerprint.prefix(16))… of \(source.path)",
                                 passed: fingerprint == (try text("dataset_fingerprint"))))
        let progress = try file.dataset("progress", as: UInt8.self).read()
        let finished = progress.filter { $0 != 0 }.count
        checks.append(CacheCheck(name: "complete", detail: "\(finished) of \(progress.count) batches finished", passed: finished == progress.count))
        for dataset in schema.groups.flatMap(\.datasets) where dataset.type.isFloat {
            let bad = dataset.type == .float16 ? try countNonFinite(file.dataset(dataset.path, as: Float16.self))
                                               : try countNonFinite(file.dataset(dataset.path, as: Float.self))
            checks.append(CacheCheck(name: "finite \(dataset.path)", detail: bad == 0 ? "no NaN or Inf" : "\(bad) NaN or Inf values", passed: bad == 0))
        }
        checks += try recompute(file, layout: layout, runner: runner, teacher: teacher, source: source,
                                padding: settings.augment.cropPadding, samples: samples, seed: seed)
        return checks
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

    /// Recomputes `samples` random (view, image) rows and compares each group with its tolerance.
    static func recompute(_ file: HDF5File, layout: CacheLayout, runner: TeacherRunner, teacher: LoadedTeacher,
                          source: any ImageSource, padding: Int, samples: Int, seed: UInt64) throws -> [CacheCheck] {
        var generator = SeededGenerator(seed: seed)
        let picks = (0..<Swift.min(samples, layout.count * layout.views)).map { _ in
            (view: Int.random(in: 0..<layout.views, using: &generator), image: Int.random(in: 0..<layout.count, using: &generator))
        }
        let views = try PrecomputeStage.readViews(file, count: layout.count, views: layout.views)
        let batch = try source.batch(picks.map(\.image))
        let cachedImages = try file.dataset("images", as: UInt8.self).read(rowIndices: picks.map(\.image))
        var checks = [CacheCheck(name: "images", detail: "\(picks.count) rows equal to \(source.path)", passed: cachedImages == batch.pixels)]
        let input = batch.pixels.withUnsafeBufferPointer { pixels in
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
