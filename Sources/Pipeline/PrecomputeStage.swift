// `kd precompute`: run the teacher once over the training set and write the cache. A reader thread
// decodes batches, the calling thread runs the teacher, a writer thread appends to HDF5; each queue
// holds two batches, so memory does not grow with the dataset. Finished batches are marked in the
// file, so a killed run resumes at the first unfinished one.
import Checkpoints
import Datasets
import Foundation
import HDF5
import NN
import Tensor

/// The teacher a cache is made from, with what its checkpoint says about inputs.
struct LoadedTeacher {
    let path: String
    let model: any Classifier
    let normalization: Normalization
    let classes: [String]
    let sha256: String

    /// Loads `path` for images of `source`'s shape, with errors that name the file and the misfit:
    /// another architecture than `arch` (when given), other classes than the images' (names and
    /// order), weights of another shape.
    init(path: String, source: any ImageSource, arch expectedArch: String? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(file: path, message: "no teacher checkpoint here: train it first (kd teacher / make teacher)")
        }
        let file = try HDF5File.open(path)
        guard let arch = try file.attribute("arch").stringValue, let mean = try file.attribute("input_mean").doublesValue,
              let std = try file.attribute("input_std").doublesValue, let classCount = try file.attribute("num_classes").intValue else {
            throw CheckpointError(file: path, message: "attributes arch, num_classes, input_mean, input_std are required")
        }
        if let expectedArch, expectedArch != arch {
            throw CheckpointError(file: path, message: "holds a \(arch), but the pipeline's teacher.arch is \(expectedArch): point cache.teacher_checkpoint at a \(expectedArch) or set teacher.arch: \(arch)")
        }
        // Every model of the zoo starts with `conv1`.
        let inChannels = try file.info("conv1.weight").shape[1]
        guard inChannels == source.channels else {
            throw DatasetError(source.path, "images have \(source.channels) channel(s); the teacher \(path) (\(arch)) takes \(inChannels)")
        }
        guard mean.count == source.channels else {
            throw CheckpointError(file: path, message: "input_mean has \(mean.count) values for \(source.channels) channel(s)")
        }
        let classes = try file.hasAttribute("classes") ? try file.attribute("classes").stringsValue ?? [] : []
        try Self.checkClasses(teacher: classes.isEmpty ? nil : classes, count: Int(classCount), path: path, source: source)
        let model = try Models.make(arch, classes: Int(classCount), inChannels: source.channels, imageSize: source.height, seed: 0)
        do { try Checkpoint.load(path, into: model) } catch let error as CheckpointError {
            throw CheckpointError(file: path, message: "\(error.message) (a \(arch) for \(source.height)x\(source.width)x\(source.channels) images of \(classCount) classes, the images of \(source.path)): the checkpoint was made for other images or is another model")
        }
        model.train(false)
        self.path = path
        self.model = model
        normalization = Normalization(mean: mean, std: std)
        self.classes = classes.isEmpty ? source.classNames : classes
        sha256 = try SHA256.file(path)
    }

    /// The images' classes must be the teacher's, name by name in label order, or its outputs
    /// would mean other classes than the labels (a count alone cannot tell).
    static func checkClasses(teacher: [String]?, count: Int, path: String, source: any ImageSource) throws {
        guard source.classNames.count == count else {
            throw DatasetError(source.path, "\(source.classNames.count) classes; the teacher \(path) has \(count)")
        }
        guard let teacher, teacher != source.classNames else { return }
        let hint = Set(teacher) == Set(source.classNames)
            ? "the same names in another order: a PNG folder's classes.txt sets the order (one class per line, the teacher's order), then import it again"
            : "other names: list them in a PNG folder's classes.txt as <folder><TAB><teacher's name>, in the teacher's order"
        throw DatasetError(source.path, "classes [\(source.classNames.joined(separator: ", "))] are not the teacher's [\(teacher.joined(separator: ", "))] (\(path)): \(hint)")
    }
}

/// The outcome of a precompute run.
public struct PrecomputeSummary: Sendable {
    public var path: String
    public var rows: Int
    public var computedRows: Int
    public var seconds: Double
    /// Bytes on disk per dataset, and the file.
    public var groupBytes: [(String, Int)]
    public var fileBytes: Int
    public var reused: Bool
}

public enum PrecomputeStage {
    /// Writes (or resumes, or reuses) `runs/<name>/cache.h5`. A cache made from another teacher,
    /// dataset or cache configuration is refused with the differences, or replaced with `force`.
    @discardableResult
    public static func run(_ config: PipelineConfig, configText: String, force: Bool = false, skipBad: Bool = false) throws -> PrecomputeSummary {
        try StudentStage.validatePlan(config)
        let lock = try RunLock(config.cachePath + ".lock", target: config.cachePath)
        defer { withExtendedLifetime(lock) {} }
        let settings = config.cacheSettings
        let source = try openImageSource(config.data.train)
        let checkpoint = teacherCheckpoint(config)
        guard source.count > 0 else { throw DatasetError(source.path, "has no images") }
        let teacher = try LoadedTeacher(path: checkpoint, source: source, arch: config.teacher.arch)
        let imageShape = [source.height, source.width, source.channels]
        let schema = try CacheSchema(settings: settings, teacher: teacher.model, imageShape: imageShape, classes: source.classNames.count,
                                     file: "pipeline \(config.name)")
        let runner = TeacherRunner(model: teacher.model, schema: schema)
        let layout = CacheLayout(count: source.count, views: settings.views, imageShape: imageShape, batchSize: settings.batchSize, schema: schema)
        print("precompute: teacher \(teacher.model.arch) (\(checkpoint)), \(source.count) images x \(settings.views) view(s) from \(source.path)")
        let fingerprint = try datasetFingerprint(source, skipBad: skipBad)
        let path = config.cachePath
        let identity: [String: String] = ["teacher_sha256": teacher.sha256, "dataset_fingerprint": fingerprint, "cache_config": settings.canonical]

        var cache: CacheFile
        if FileManager.default.fileExists(atPath: path) {
            let differences = try compare(path, with: identity)
            if differences.isEmpty {
                cache = try CacheFile.open(path: path, layout: layout)
            } else if force {
                print("precompute: replacing \(path): " + differences.joined(separator: "; "))
                try FileManager.default.removeItem(atPath: path)
                cache = try create(path, layout, settings, source, teacher, identity, configText)
            } else {
                throw ConfigError(file: path, message: "was made differently: " + differences.joined(separator: "; ")
                                  + ". Pass --force to replace it, or move it away.")
            }
        } else {
            cache = try create(path, layout, settings, source, teacher, identity, configText)
        }

        let finished = try cache.finishedBatches()
        let pending = finished.indices.filter { !finished[$0] }
        if pending.isEmpty {
            print("precompute: \(path) is complete; reusing it")
            return try summary(cache, computed: 0, seconds: 0, reused: true)
        }
        if pending.count < finished.count { print("precompute: resuming at batch \(pending[0] + 1) of \(finished.count)") }
        let views = try readViews(cache.file, count: layout.count, views: layout.views)
        let start = Date()
        let computed = try fill(cache, pending: pending, source: source, runner: runner, teacher: teacher, views: views,
                                padding: settings.augment.cropPadding, skipBad: skipBad)
        let result = try summary(cache, computed: computed, seconds: Date().timeIntervalSince(start), reused: false)
        print(describe(result))
        return result
    }

    /// The teacher checkpoint the cache is made from.
    static func teacherCheckpoint(_ config: PipelineConfig) -> String {
        switch config.cacheSettings.teacherCheckpoint {
        case .last: config.teacherDirectory + "/last.h5"
        case .best: config.teacherDirectory + "/best.h5"
        case .path(let path): path
        }
    }

    /// SHA-256 over the images' shape, class names, labels and pixels, streamed (unreadable images
    /// count as black with `skipBad`).
    public static func datasetFingerprint(_ source: any ImageSource, skipBad: Bool = false) throws -> String {
        var digest = SHA256()
        digest.update(Array("\(source.count)x\(source.height)x\(source.width)x\(source.channels)|\(source.classNames.joined(separator: "|"))".utf8))
        digest.update(values: source.labels)
        for start in stride(from: 0, to: source.count, by: 4096) {
            digest.update(try read(source, rows: start..<Swift.min(source.count, start + 4096), skipBad: skipBad, report: false).0.pixels)
        }
        return digest.hexDigest()
    }

    /// What differs between the cache at `path` and the wanted teacher, dataset and settings.
    static func compare(_ path: String, with identity: [String: String]) throws -> [String] {
        let file = try HDF5File.open(path)
        var differences: [String] = []
        for (key, wanted) in identity.sorted(by: { $0.key < $1.key }) {
            let stored = (try? file.attribute(key).stringValue) ?? "none"
            if stored != wanted {
                let what = ["teacher_sha256": "another teacher checkpoint", "dataset_fingerprint": "another dataset",
                            "cache_config": "other cache settings"][key]!
                differences.append("\(what) (\(key) \(stored.prefix(70)) here, \(wanted.prefix(70)) now)")
            }
        }
        return differences
    }

    private static func create(_ path: String, _ layout: CacheLayout, _ settings: CacheConfig, _ source: any ImageSource,
                               _ teacher: LoadedTeacher, _ identity: [String: String], _ configText: String) throws -> CacheFile {
        var views: [[View]] = [Array(repeating: .identity(padding: settings.augment.cropPadding), count: layout.count)]
        for view in 1..<Swift.max(1, layout.views) {
            var generator = SeededGenerator(seed: settings.seed &* 7919 &+ UInt64(view))
            views.append((0..<layout.count).map { _ in View.random(settings.augment, generator: &generator) })
        }
        let formatter = ISO8601DateFormatter()
        var attributes: [String: AttributeValue] = identity.mapValues { .string($0) }
        attributes["schema_version"] = .int(2)
        attributes["teacher_checkpoint"] = .string(absolutePath(teacher.path))
        attributes["teacher_arch"] = .string(teacher.model.arch)
        attributes["dataset_path"] = .string(absolutePath(source.path))
        attributes["num_samples"] = .int(Int64(layout.count))
        attributes["num_views"] = .int(Int64(layout.views))
        attributes["classes"] = .strings(source.classNames)
        attributes["input_mean"] = .doubles(teacher.normalization.mean)
        attributes["input_std"] = .doubles(teacher.normalization.std)
        attributes["pipeline_config"] = .string(configText)
        attributes["created_at"] = .string(formatter.string(from: Date()))
        attributes["tool_version"] = .string(toolVersion)
        return try CacheFile.create(path: path, layout: layout, chunkRows: settings.chunkRows, cropPadding: settings.augment.cropPadding,
                                    labels: source.labels, views: views, attributes: attributes)
    }

    /// The views stored in the cache, `[view][image]`.
    static func readViews(_ file: HDF5File, count: Int, views: Int) throws -> [[View]] {
        let dy = try file.dataset("views/dy", as: UInt8.self).read()
        let dx = try file.dataset("views/dx", as: UInt8.self).read()
        let flip = try file.dataset("views/flip", as: UInt8.self).read()
        return (0..<views).map { view in
            (0..<count).map { image in
                let at = view * count + image
                return View(dy: Int(dy[at]), dx: Int(dx[at]), flip: flip[at] != 0)
            }
        }
    }

    /// A batch on its way through the workers.
    private struct Work: @unchecked Sendable {
        var index: Int
        /// The images, and the rows among them that could not be read (stored black).
        var batch: Result<(ImageBatch, Set<Int>), Error>
        var rows: [[CachedValues]]?
    }

    /// Runs the reader, the teacher and the writer over the pending batches.
    private static func fill(_ cache: CacheFile, pending: [Int], source: any ImageSource, runner: TeacherRunner,
                             teacher: LoadedTeacher, views: [[View]], padding: Int, skipBad: Bool) throws -> Int {
        let layout = cache.layout
        let toCompute = BoundedQueue<Work>(capacity: 2), toWrite = BoundedQueue<Work>(capacity: 2)
        let sourceBox = UncheckedBox(source)
        let reader = Thread {
            for index in pending {
                let rows = layout.batch(index).rows
                let batch = Result { try read(sourceBox.value, rows: rows, skipBad: skipBad, report: true) }
                guard toCompute.push(Work(index: index, batch: batch)) else { return }
            }
            toCompute.close()
        }
        let writerError = ErrorBox()
        let cacheBox = UncheckedBox(cache)
        let writer = Thread {
            while let work = toWrite.pop() {
                do {
                    let (batch, skipped) = try work.batch.get()
                    try cacheBox.value.write(batch: work.index, rows: work.rows!,
                                             pixels: layout.batch(work.index).view == 0 ? batch.pixels : nil, skipped: skipped)
                } catch {
                    writerError.set(error)
                    toWrite.close()
                    return
                }
            }
            writerError.finish()
        }
        reader.start()
        writer.start()
        let bar = ProgressBar("precompute", total: pending.reduce(0) { $0 + layout.batch($1).rows.count })
        var done = 0
        defer { toCompute.close() }
        do {
            while let work = toCompute.pop() {
                if let error = writerError.error { throw error }
                let (batch, _) = try work.batch.get()
                let (view, rows) = layout.batch(work.index)
                let input = batch.pixels.withUnsafeBufferPointer { pixels in
                    makeInputs(pixels, imageShape: layout.imageShape, indices: Array(0..<rows.count), normalization: teacher.normalization,
                               views: Array(views[view][rows]), padding: padding)
                }
                var finished = work
                finished.rows = runner.rows(input)
                guard toWrite.push(finished) else { break }
                done += rows.count
                bar.update(done)
            }
        } catch {
            toWrite.close()
            writerError.wait()
            throw error
        }
        toWrite.close()
        writerError.wait()
        if let error = writerError.error { throw error }
        bar.finish()
        return done
    }

    /// A batch of images; with `skipBad`, an unreadable image becomes black and is returned among
    /// the skipped rows.
    private static func read(_ source: any ImageSource, rows: Range<Int>, skipBad: Bool, report: Bool) throws -> (ImageBatch, Set<Int>) {
        do { return (try source.batch(rows), []) } catch where skipBad {
            var pixels: [UInt8] = []
            var skipped = Set<Int>()
            let size = source.height * source.width * source.channels
            for row in rows {
                do { pixels += try source.batch([row]).pixels } catch {
                    if report { FileHandle.standardError.write(Data("precompute: skipping image \(row) (stored black): \(error)\n".utf8)) }
                    pixels += [UInt8](repeating: 0, count: size)
                    skipped.insert(row)
                }
            }
            return (ImageBatch(pixels: pixels, labels: rows.map { source.labels[$0] }, height: source.height,
                               width: source.width, channels: source.channels), skipped)
        }
    }

    private static func summary(_ cache: CacheFile, computed: Int, seconds: Double, reused: Bool) throws -> PrecomputeSummary {
        let groups = ["labels", "images"] + cache.layout.schema.groups.flatMap { $0.datasets.map(\.path) } + ["views/dy", "views/dx", "views/flip"]
        let bytes = try groups.map { ($0, try cache.file.info($0).storedBytes) }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: cache.path)[.size] as? NSNumber)?.intValue ?? 0
        return PrecomputeSummary(path: cache.path, rows: cache.layout.count * cache.layout.views, computedRows: computed,
                                 seconds: seconds, groupBytes: bytes, fileBytes: fileBytes, reused: reused)
    }

    /// The end-of-run table: bytes per group and per image, time and throughput.
    public static func describe(_ summary: PrecomputeSummary) -> String {
        var lines = [String(format: "precompute: %d rows in %@ (%.0f images/s) -> %@ (%@)", summary.computedRows,
                            formatDuration(summary.seconds), Double(summary.computedRows) / Swift.max(summary.seconds, 1e-9),
                            summary.path, formatBytes(summary.fileBytes))]
        let width = summary.groupBytes.map(\.0.count).max() ?? 10
        for (group, bytes) in summary.groupBytes {
            lines.append("  " + group.padding(toLength: width, withPad: " ", startingAt: 0)
                         + "  " + formatBytes(bytes).padding(toLength: 10, withPad: " ", startingAt: 0)
                         + String(format: " %8.1f bytes/row", Double(bytes) / Double(Swift.max(1, summary.rows))))
        }
        return lines.joined(separator: "\n")
    }
}

/// `path` from the current folder made absolute, so a file's provenance works from anywhere.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

/// The version written into files.
public let toolVersion = "kd 0.1"

/// Moves a non-Sendable value into a worker thread that is its only user meanwhile.
final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The first error of a worker thread, and its completion.
final class ErrorBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var stored: Error?
    private var done = false

    var error: Error? {
        condition.lock()
        defer { condition.unlock() }
        return stored
    }

    func set(_ error: Error) {
        condition.lock()
        if stored == nil { stored = error }
        done = true
        condition.broadcast()
        condition.unlock()
    }

    func finish() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    func wait() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
}
