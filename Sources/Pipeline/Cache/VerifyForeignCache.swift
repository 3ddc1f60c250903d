// `kd verify-cache` on a foreign cache (written by scripts/precompute_pytorch.py): every check
// that needs no teacher (required attributes, dataset fingerprint and classes, completeness, the
// layout against the cache's own settings, the view table, the images, finiteness of every float
// group). kd cannot run a foreign teacher, so no row is recomputed; the script's --verify does that.
import Datasets
import Foundation
import HDF5

extension VerifyCache {
    /// The structural checks of the foreign cache `file` at `path`, against the images at `data`
    /// (default: its `dataset_path`). A missing required attribute or a broken view table is an
    /// error naming it.
    static func foreign(file: HDF5File, path: String, data: String?) throws -> [CacheCheck] {
        let teacher = try ForeignTeacher(file: file)
        let settings = try CacheConfig(recordedIn: file)
        let source = try openImageSource(try data ?? (file.attribute("dataset_path").stringValue ?? ""))
        let count = try file.info("labels").shape[0], views = try file.info("views/dy").shape[0]
        var checks = [CacheCheck(name: "teacher (external)", detail: "\(teacher.description): kd cannot re-run a foreign teacher, so no row is recomputed (precompute_pytorch.py --verify N does)", passed: true)]

        let recorded = (try file.attribute("num_samples").intValue, try file.attribute("num_views").intValue)
        checks.append(CacheCheck(name: "size", detail: "\(count) images x \(views) views; num_samples \(recorded.0.map(String.init) ?? "?"), num_views \(recorded.1.map(String.init) ?? "?"), cache_config views \(settings.views)",
                                 passed: recorded.0 == Int64(count) && recorded.1 == Int64(views) && settings.views == views))
        let fingerprint = try datasetFingerprint(source)
        checks.append(CacheCheck(name: "dataset fingerprint", detail: "\(fingerprint.prefix(16))… of \(source.path)",
                                 passed: fingerprint == (try file.attribute("dataset_fingerprint").stringValue)))
        let classes = try file.attribute("classes").stringsValue ?? []
        checks.append(CacheCheck(name: "classes", detail: classes == source.classNames ? "\(classes.count), the images' in their order"
                                     : "[\(classes.joined(separator: ", "))] are not the images' [\(source.classNames.joined(separator: ", "))]",
                                 passed: classes == source.classNames))
        let progress = try file.dataset("progress", as: UInt8.self).read()
        let finished = progress.filter { $0 != 0 }.count
        checks.append(CacheCheck(name: "complete", detail: "\(finished) of \(progress.count) batches finished", passed: finished == progress.count && !progress.isEmpty))

        let stored = try CacheSchema(file: file)
        checks.append(layoutCheck(stored, settings: settings, file: file, views: views, count: count))
        _ = try readViews(file, count: count, views: views, padding: settings.augment.cropPadding)
        checks.append(CacheCheck(name: "views", detail: "\(views) x \(count) crops and flips within crop_padding \(settings.augment.cropPadding), view 0 the images themselves", passed: true))
        checks.append(try imagesCheck(file, source: source, count: count))
        for dataset in stored.groups.flatMap(\.datasets) where dataset.type.isFloat {
            let bad = dataset.type == .float16 ? try countNonFinite(file.dataset(dataset.path, as: Float16.self))
                                               : try countNonFinite(file.dataset(dataset.path, as: Float.self))
            checks.append(CacheCheck(name: "finite \(dataset.path)", detail: bad == 0 ? "no NaN or Inf" : "\(bad) NaN or Inf values", passed: bad == 0))
        }
        return checks
    }

    /// The groups the settings ask for are those stored, each `[V, N, ...]`, features of the
    /// settings' type, attention maps of their mode and p.
    private static func layoutCheck(_ stored: CacheSchema, settings: CacheConfig, file: HDF5File, views: Int, count: Int) -> CacheCheck {
        let wanted = [settings.topK > 0 ? "logits_topk" : "logits"] + settings.features.map { "features/" + $0 }
            + (settings.attention?.layers ?? []).map { "attention/" + $0 } + settings.boundary.map { "boundary/" + $0 }
            + (settings.inputGrad ? ["input_grad"] : []) + (settings.embedding ? ["embedding"] : [])
        let names = stored.groups.map(\.name)
        var problems: [String] = []
        if Set(names) != Set(wanted) {
            problems.append("holds [\(names.sorted().joined(separator: ", "))], the settings ask for [\(wanted.sorted().joined(separator: ", "))]")
        }
        for dataset in stored.groups.flatMap(\.datasets) {
            let shape = (try? file.info(dataset.path).shape) ?? []
            if Array(shape.prefix(2)) != [views, count] { problems.append("\(dataset.path) is \(shape), not [\(views), \(count), ...]") }
        }
        for group in stored.groups {
            if let features = group as? Features, features.type != settings.featuresDtype.elementType {
                problems.append("\(features.name) is \(features.type), features_dtype \(settings.featuresDtype.rawValue)")
            }
            if let maps = group as? AttentionMaps, let wanted = settings.attention, maps.mode != wanted.mode || maps.p != wanted.p {
                problems.append("\(maps.name) has mode \(maps.mode.rawValue), p \(maps.p); the settings \(wanted.mode.rawValue), p \(wanted.p)")
            }
        }
        return CacheCheck(name: "layout", detail: problems.isEmpty ? "\(names.count) groups, as its cache_config describes" : problems.joined(separator: "; "),
                          passed: problems.isEmpty)
    }

    /// The cached images and labels are the source's, every one.
    private static func imagesCheck(_ file: HDF5File, source: any ImageSource, count: Int) throws -> CacheCheck {
        guard count == source.count else {
            return CacheCheck(name: "images", detail: "\(count) images here, \(source.count) in \(source.path)", passed: false)
        }
        let images = try file.dataset("images", as: UInt8.self), labels = try file.dataset("labels", as: Int32.self).read()
        var differing = 0
        for start in stride(from: 0, to: count, by: 1024) {
            let rows = Array(start..<Swift.min(count, start + 1024))
            let batch = try source.batch(rows)
            if try images.read(rowIndices: rows) != batch.pixels || Array(labels[rows[0]...rows.last!]) != batch.labels { differing += 1 }
        }
        return CacheCheck(name: "images", detail: differing == 0 ? "\(count) images and labels equal to \(source.path)" : "\(differing) blocks of 1,024 differ from \(source.path)",
                          passed: differing == 0)
    }
}
