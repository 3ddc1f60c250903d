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
        let runner = try TeacherRunner(model: teacher.model, settings: settings, file: path)
        let layout = cacheLayout(runner: runner, settings: settings, count: source.count,
                                 imageShape: [source.height, source.width, source.channels], classes: source.classNames.count)
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
        for group in layout.groups where group.type == .float16 || group.type == .float32 {
            let bad = group.type == .float16 ? try countNonFinite(file.dataset(group.path, as: Float16.self))
                                             : try countNonFinite(file.dataset(group.path, as: Float.self))
            checks.append(CacheCheck(name: "finite \(group.path)", detail: bad == 0 ? "no NaN or Inf" : "\(bad) NaN or Inf values", passed: bad == 0))
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
        let views = try PrecomputeStage.readViews(file, layout: layout, padding: padding)
        let batch = try source.batch(picks.map(\.image))
        let cachedImages = try file.dataset("images", as: UInt8.self).read(rowIndices: picks.map(\.image))
        var checks = [CacheCheck(name: "images", detail: "\(picks.count) rows equal to \(source.path)", passed: cachedImages == batch.pixels)]
        let input = batch.pixels.withUnsafeBufferPointer { pixels in
            makeInputs(pixels, imageShape: layout.imageShape, indices: Array(0..<picks.count), normalization: teacher.normalization,
                       views: picks.map { views[$0.view][$0.image] }, padding: padding)
        }
        let live = runner.run(input, labels: batch.labels.map(Int.init))
        var features = live.features.makeIterator(), maps = live.attention.makeIterator(), bits = live.boundary.makeIterator()
        for group in layout.groups {
            func cachedRows<T: HDF5Element>(_: T.Type) throws -> [T] {
                let dataset = try file.dataset(group.path, as: T.self)
                return try picks.flatMap { pick in
                    try dataset.read(offset: [pick.view, pick.image] + group.row.map { _ in 0 }, count: [1, 1] + group.row)
                }
            }
            let check: CacheCheck
            switch group.path {
            case "logits": check = compare(group.path, try cachedRows(Float.self), live.logits, relative: 1e-4)
            case "logits_topk/values": check = compare(group.path, try cachedRows(Float.self), live.topValues, relative: 1e-4)
            case "logits_topk/indices":
                let cached = try cachedRows(Int32.self)
                let same = zip(cached, live.topIndices).filter { $0 == $1 }.count
                check = CacheCheck(name: group.path, detail: "\(same) of \(cached.count) indices equal", passed: same >= cached.count * 99 / 100)
            case "input_grad_scale": check = compare(group.path, try cachedRows(Float.self), live.inputGradScale, relative: 1e-3)
            case "input_grad":
                check = compare(group.path, try cachedRows(Float.self), live.inputGrad.map(Float.init), relative: 2e-3)
            default:
                if group.path.hasPrefix("features/") {
                    let tolerance = group.type == .float16 ? 2e-3 : 1e-4
                    check = compare(group.path, try cachedRows(Float.self), features.next()!, relative: tolerance)
                } else if group.path.hasPrefix("attention/") {
                    check = compare(group.path, try cachedRows(Float.self), maps.next()!, relative: 1e-4)
                } else {
                    let cached = try cachedRows(UInt8.self), recomputed = bits.next()!
                    let differing = zip(cached, recomputed).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
                    // A sign can flip only where the response is within rounding of zero.
                    check = CacheCheck(name: group.path, detail: "\(differing) of \(cached.count * 8) bits differ",
                                       passed: differing * 10_000 <= cached.count * 8)
                }
            }
            checks.append(check)
        }
        return checks
    }

    /// Largest difference against the largest magnitude of the recomputed values.
    static func compare(_ name: String, _ cached: [Float], _ live: [Float], relative: Double) -> CacheCheck {
        guard cached.count == live.count else {
            return CacheCheck(name: name, detail: "\(cached.count) cached values, \(live.count) recomputed", passed: false)
        }
        let scale = Double(live.map { Swift.abs($0) }.max() ?? 0)
        let difference = Double(zip(cached, live).map { Swift.abs($0 - $1) }.max() ?? 0)
        let passed = difference <= relative * Swift.max(scale, 1e-30)
        return CacheCheck(name: name, detail: String(format: "max |cached - live| %.3g (%.2g of max |value| %.3g; limit %.0g)",
                                                     difference, difference / Swift.max(scale, 1e-30), scale, relative),
                          passed: passed)
    }
}
