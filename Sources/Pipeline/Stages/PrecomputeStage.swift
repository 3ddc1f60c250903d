// `kd precompute`: run the teacher once over the training set and write the cache. A reader thread
// decodes batches, the calling thread runs the teacher, a writer thread appends to HDF5; each queue
// holds two batches, so memory does not grow with the dataset. Finished batches are marked in the
// file, so a killed run resumes at the first unfinished one.
import Datasets
import Foundation
import HDF5
import Parallel

/// The outcome of a precompute run.
public struct PrecomputeSummary: Sendable {
    /// The cache file.
    public var path: String
    /// Rows of the cache: N images x V views.
    public var rows: Int
    /// Rows the teacher computed in this run (fewer when resumed, 0 when reused).
    public var computedRows: Int
    /// Seconds of computing (0 when reused).
    public var seconds: Double
    /// Bytes on disk per dataset, by path.
    public var groupBytes: [(String, Int)]
    /// The file's size in bytes.
    public var fileBytes: Int
}

/// `kd precompute`: runs the teacher once over the training set and writes the cache.
public enum PrecomputeStage {
    /// Writes (or resumes, or reuses) `runs/<name>/cache.h5` with `threads` compute threads. A
    /// cache made from another teacher, dataset or cache configuration is refused with the
    /// differences, or replaced with `force`; `skipBad` stores unreadable images black and records them.
    /// With `shard`, writes only that shard's file (`ShardFiles.path`), its images' rows of every
    /// view, resumable on its own; `CacheJoin` makes the cache of the finished shards.
    @discardableResult
    public static func run(_ config: PipelineConfig, configText: String, force: Bool = false, skipBad: Bool = false,
                           threads: Int = ComputeThreads.count, shard: Shard? = nil) throws -> PrecomputeSummary {
        try DistillStage.validatePlan(config)
        let teacherConfig: TrainingConfig
        switch config.teacherSource {
        case .trained(let settings): teacherConfig = settings
        case .external(let path): return try external(path)
        }
        let run = RunLayout(config)
        let path = shard.map { ShardFiles.path(of: $0, cache: run.cache) } ?? run.cache
        let lock = try RunLock(path + ".lock", target: path)
        defer { withExtendedLifetime(lock) {} }
        let settings = config.cacheSettings
        let source = try openImageSource(config.data.train)
        let checkpoint = run.teacherCheckpoint(settings.teacherCheckpoint)
        guard source.count > 0 else { throw DatasetError(source.path, "has no images") }
        let teacher = try LoadedTeacher(path: checkpoint, source: source, arch: teacherConfig.arch, normalization: config.data.normalization)
        let imageShape = [source.height, source.width, source.channels]
        let schema = try CacheSchema(settings: settings, teacher: teacher.model, imageShape: imageShape, classes: source.classNames.count,
                                     file: "pipeline \(config.name)")
        let runner = TeacherRunner(model: teacher.model, schema: schema)
        let images = try shard?.images(of: source.count, batchSize: settings.batchSize) ?? 0..<source.count
        let layout = CacheLayout(count: images.count, views: settings.views, imageShape: imageShape, batchSize: settings.batchSize, schema: schema)
        let part = shard.map { ", shard \($0): images \(images.lowerBound)..<\(images.upperBound)" } ?? ""
        print("precompute: teacher \(teacher.model.arch) (\(checkpoint)), \(source.count) images x \(settings.views) view(s) from \(source.path)\(part)")
        let identity = CacheIdentity(teacherSHA256: teacher.sha256, datasetFingerprint: try datasetFingerprint(source, skipBad: skipBad),
                                     cacheConfig: settings.canonical)
        if shard != nil {
            if let whole = try completeCache(run.cache, identity: identity) {
                print("precompute: \(run.cache) is complete; reusing it")
                return whole
            }
            // Found now rather than after every shard is computed: a cache the join would refuse to replace.
            try CacheJoin.checkReplaceable(run.cache, force: force)
        }

        var cache: CacheWriter
        let made = Made(layout: layout, settings: settings, source: source, images: images, teacher: teacher, identity: identity,
                        configText: configText, shard: shard)
        if FileManager.default.fileExists(atPath: path) {
            let differences = identity.differences(in: try HDF5File.open(path))
            if differences.isEmpty {
                cache = try CacheWriter.open(path: path, layout: layout)
            } else if force {
                print("precompute: replacing \(path): " + differences.joined(separator: "; "))
                try FileManager.default.removeItem(atPath: path)
                cache = try create(path, made)
            } else {
                throw ConfigError(file: path, message: "was made differently: " + differences.joined(separator: "; ")
                                  + ". Pass --force to replace it, or move it away.")
            }
        } else {
            cache = try create(path, made)
        }

        let finished = try cache.finishedBatches()
        let pending = finished.indices.filter { !finished[$0] }
        if pending.isEmpty {
            print("precompute: \(path) is complete; reusing it")
            let result = try summary(cache.file, layout: layout, computed: 0, seconds: 0)
            try cache.file.close()
            return result
        }
        if pending.count < finished.count { print("precompute: resuming at batch \(pending[0] + 1) of \(finished.count)") }
        let views = try readViews(cache.file, count: layout.count, views: layout.views, padding: settings.augment.cropPadding)
        let start = Date()
        let computed = try ComputeThreads.with(threads) {
            try fill(cache, pending: pending, firstImage: images.lowerBound, source: source, runner: runner, teacher: teacher, views: views,
                     padding: settings.augment.cropPadding, skipBad: skipBad)
        }
        let result = try summary(cache.file, layout: layout, computed: computed, seconds: Date().timeIntervalSince(start))
        // Closed now, not when the worker threads let go of it: libhdf5 locks a file open for
        // writing, and the rank that joins the shards opens this one next.
        try cache.file.close()
        print(describe(result))
        return result
    }

    /// A foreign cache is not computed here: it is opened (complete, its teacher's attributes all
    /// there) and described, saying that its teacher is external.
    private static func external(_ path: String) throws -> PrecomputeSummary {
        let reader = try CacheReader(path: path)
        let teacher = try ForeignTeacher(file: reader.file)
        print("precompute: the teacher is external (\(teacher.description)): its cache \(path) was written by \(teacher.writer); nothing to compute")
        let bytes = try (["labels", "images"] + reader.datasets().map(\.path)).map { ($0, try reader.file.info($0).storedBytes) }
        let fileBytes = try fileBytes(path)
        return PrecomputeSummary(path: path, rows: reader.count * reader.views, computedRows: 0, seconds: 0, groupBytes: bytes, fileBytes: fileBytes)
    }

    /// The summary of the whole cache at `path` when it exists, is complete and matches `identity`.
    private static func completeCache(_ path: String, identity: CacheIdentity) throws -> PrecomputeSummary? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try HDF5File.open(path)
        guard identity.differences(in: file).isEmpty, let reader = try? CacheReader(path: path) else { return nil }
        let layout = CacheLayout(count: reader.count, views: reader.views, imageShape: [], batchSize: 1, schema: reader.schema)
        return try summary(file, layout: layout, computed: 0, seconds: 0)
    }

    /// What a new cache (or shard) file is made from.
    private struct Made {
        var layout: CacheLayout
        var settings: CacheConfig
        var source: any ImageSource
        /// The source's images the file holds (all, or a shard's).
        var images: Range<Int>
        var teacher: LoadedTeacher
        var identity: CacheIdentity
        var configText: String
        var shard: Shard?
    }

    private static func create(_ path: String, _ made: Made) throws -> CacheWriter {
        let (layout, settings, source, teacher) = (made.layout, made.settings, made.source, made.teacher)
        let formatter = ISO8601DateFormatter()
        var attributes: [String: AttributeValue] = made.identity.attributes.mapValues { .string($0) }
        attributes["schema_version"] = .int(2)
        attributes["teacher_checkpoint"] = .string(absolutePath(teacher.path))
        attributes["teacher_arch"] = .string(teacher.model.arch)
        attributes["dataset_path"] = .string(absolutePath(source.path))
        attributes["num_samples"] = .int(Int64(layout.count))
        attributes["num_views"] = .int(Int64(layout.views))
        attributes["classes"] = .strings(source.classNames)
        attributes["input_mean"] = .doubles(teacher.normalization.mean)
        attributes["input_std"] = .doubles(teacher.normalization.std)
        attributes["pipeline_config"] = .string(made.configText)
        attributes["created_at"] = .string(formatter.string(from: Date()))
        attributes["tool_version"] = .string(toolVersion)
        if let shard = made.shard {
            attributes[ShardAttributes.index] = .int(Int64(shard.index))
            attributes[ShardAttributes.count] = .int(Int64(shard.count))
            attributes[ShardAttributes.firstImage] = .int(Int64(made.images.lowerBound))
            attributes[ShardAttributes.datasetImages] = .int(Int64(source.count))
        }
        // Views are drawn for the whole dataset, then cut: a view depends on (image, view, seed) only.
        let views = cacheViews(count: source.count, views: layout.views, augment: settings.augment, seed: settings.seed).map { Array($0[made.images]) }
        return try CacheWriter.create(path: path, layout: layout, chunkRows: settings.chunkRows, cropPadding: settings.augment.cropPadding,
                                      labels: Array(source.labels[made.images]), views: views, attributes: attributes)
    }

    /// A batch on its way through the workers.
    private struct Work: @unchecked Sendable {
        var index: Int
        /// The images, and the rows among them that could not be read (stored black).
        var batch: Result<(ImageBatch, Set<Int>), Error>
        var rows: [[CachedValues]]?
    }

    /// Runs the reader, the teacher and the writer over the pending batches.
    private static func fill(_ cache: CacheWriter, pending: [Int], firstImage: Int, source: any ImageSource, runner: TeacherRunner,
                             teacher: LoadedTeacher, views: [[View]], padding: Int, skipBad: Bool) throws -> Int {
        let layout = cache.layout
        let toCompute = BoundedQueue<Work>(capacity: 2), toWrite = BoundedQueue<Work>(capacity: 2)
        let sourceBox = UncheckedBox(source)
        let reader = Thread {
            for index in pending {
                // Rows of the file are images `firstImage...` of the source.
                let rows = layout.batch(index).rows, shifted = (rows.lowerBound + firstImage)..<(rows.upperBound + firstImage)
                let batch = Result {
                    let (images, skipped) = try readImages(sourceBox.value, rows: shifted, skipBad: skipBad, report: true)
                    return (images, Set(skipped.map { $0 - firstImage }))
                }
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

    private static func summary(_ file: HDF5File, layout: CacheLayout, computed: Int, seconds: Double) throws -> PrecomputeSummary {
        let groups = ["labels", "images"] + layout.schema.groups.flatMap { $0.datasets.map(\.path) } + ["views/dy", "views/dx", "views/flip"]
        let bytes = try groups.map { ($0, try file.info($0).storedBytes) }
        let fileBytes = try fileBytes(file.filePath)
        return PrecomputeSummary(path: file.filePath, rows: layout.count * layout.views, computedRows: computed,
                                 seconds: seconds, groupBytes: bytes, fileBytes: fileBytes)
    }

    /// The end-of-run table: bytes per dataset and per cache row (image and view), time and throughput.
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

