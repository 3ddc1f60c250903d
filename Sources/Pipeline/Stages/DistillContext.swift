// What every student of a run shares: the cache (checked against the configured teacher and
// dataset) and its groups, its images, views and labels in memory, labelled subsets, the test set,
// and the teacher's test-set predictions for the agreement column.
import Foundation
import Datasets
import Hashing
import HDF5
import NN
import Tensor

final class DistillContext {
    /// "pipeline <name>", for messages about its configuration.
    let pipelineName: String
    let reader: CacheReader
    /// The teacher's targets: the cache's, or the teacher's own computed live (`onlineTeacher`).
    private(set) var targets: any TeacherTargets
    /// The cache's images and labels.
    let train: ImageSet
    let test: ImageSet
    let classes: [String]
    let normalization: Normalization
    let views: Int
    let viewTable: [[View]]
    let padding: Int
    let blockRows: Int
    /// The teacher's class per test image; nil for a foreign teacher whose cache recorded none.
    let teacherPredictions: [Int]?
    /// Images precompute could not read (`--skip-bad`): stored black, never trained on.
    let skipped: Set<Int>

    /// The cache of `config` opened and checked against its dataset (and, for a teacher kd trained,
    /// against that teacher's checkpoint and the cache settings), with the teacher's test-set
    /// predictions: its own run on the test set, or, for a foreign teacher, what its cache recorded.
    init(_ config: PipelineConfig, onlineTeacher: Bool = false) throws {
        pipelineName = "pipeline \(config.name)"
        let run = RunLayout(config)
        let path = run.cache
        guard FileManager.default.fileExists(atPath: path) else {
            switch config.teacherSource {
            case .trained: throw ConfigError(file: path, message: "no cache: run kd precompute --config for pipeline \(config.name) (make precompute)")
            case .external: throw ConfigError(file: path, message: "no such file: the foreign cache cache.external names (scripts/precompute_pytorch.py writes one)")
            }
        }
        reader = try CacheReader(path: path)
        targets = CachedTargets(reader: reader)
        let file = reader.file
        let marks = try file.dataset("skipped", as: UInt8.self).read()
        skipped = Set(marks.indices.filter { marks[$0] != 0 })
        let trainSource = try openImageSource(config.data.train)
        // Unreadable images count as black in the fingerprint of a cache that skipped them.
        let fingerprint = try datasetFingerprint(trainSource, skipBad: !skipped.isEmpty)
        let identity: CacheIdentity
        switch config.teacherSource {
        case .trained:
            let checkpoint = run.teacherCheckpoint(config.cacheSettings.teacherCheckpoint)
            identity = CacheIdentity(teacherSHA256: try SHA256.file(checkpoint), datasetFingerprint: fingerprint, cacheConfig: config.cacheSettings.canonical)
        case .external:
            _ = try ForeignTeacher(file: file)
            identity = CacheIdentity(teacherSHA256: nil, datasetFingerprint: fingerprint, cacheConfig: nil)
        }
        let differences = identity.differences(in: file)
        guard differences.isEmpty else {
            throw ConfigError(file: path, message: "was made differently than pipeline \(config.name) asks: \(differences.joined(separator: "; ")); run kd precompute (--force replaces it)")
        }
        train = try ImageSet(path: path)
        test = try ImageSet(path: config.data.test)
        classes = train.classNames
        guard test.classNames == classes else {
            throw DatasetError(test.path, "classes [\(test.classNames.joined(separator: ", "))] are not the cache's [\(classes.joined(separator: ", "))] (\(path))")
        }
        normalization = Normalization(mean: try file.attribute("input_mean").doublesValue ?? config.data.mean,
                                      std: try file.attribute("input_std").doublesValue ?? config.data.std)
        views = reader.views
        let settings = try JSONDecoder().decode(CacheConfig.self, from: Data((try file.attribute("cache_config").stringValue ?? "{}").utf8))
        padding = settings.augment.cropPadding
        blockRows = settings.chunkRows
        viewTable = try readViews(file, count: reader.count, views: views, padding: padding)

        switch config.teacherSource {
        case .external:
            guard !onlineTeacher else {
                throw ConfigError(file: pipelineName, message: "--online-teacher: the teacher of cache.external is external, kd cannot run it live")
            }
            teacherPredictions = try ForeignTeacher.testPredictions(in: file, test: try openImageSource(config.data.test))
        case .trained(let teacherConfig):
            // The teacher runs once here, on the test set only, for the agreement column of the report.
            let checkpoint = run.teacherCheckpoint(config.cacheSettings.teacherCheckpoint)
            let teacher = try LoadedTeacher(path: checkpoint, source: trainSource, arch: teacherConfig.arch, normalization: config.data.normalization)
            let evaluation = evaluate(teacher.model, on: test, normalization: teacher.normalization)
            teacherPredictions = evaluation.predictions
            if onlineTeacher {
                let schema = try CacheSchema(settings: settings, teacher: teacher.model, imageShape: [train.height, train.width, train.channels],
                                             classes: classes.count, file: pipelineName)
                targets = LiveTargets(runner: TeacherRunner(model: teacher.model, schema: schema)) { [unowned self] indices, view in
                    self.train.batch(indices, normalization: teacher.normalization, views: indices.map { self.viewTable[view][$0] }, padding: self.padding)
                }
            }
        }
    }

    /// What a student's terms bind to: `model` (a fresh student), this cache's groups, `seed`.
    func setup(_ student: StudentConfig, model: any Classifier, seed: UInt64) -> TermSetup {
        let probe = GradMode.withoutGrad { model.forward(Tensor.zeros([2, train.channels, train.height, train.width]), upto: nil) }
        return TermSetup(owner: "students.\(student.name)", file: pipelineName, student: model, probe: probe, schema: reader.schema,
                         cachePath: reader.path, images: reader.count, seed: seed)
    }

    /// The images whose hard labels a student with `labels: wanted` may use, as indices and as a mask.
    func labelled(_ wanted: Double?) -> (indices: [Int], mask: [Bool]) {
        let indices = Self.labelledSubset(labels: train.labels, classes: classes.count, wanted: wanted).filter { !skipped.contains($0) }
        var mask = [Bool](repeating: false, count: train.count)
        for index in indices { mask[index] = true }
        return (indices, mask)
    }

    /// A class-balanced subset with seed 0: `wanted` images (a count above 1, else a fraction), all when nil.
    static func labelledSubset(labels: [Int32], classes: Int, wanted: Double?) -> [Int] {
        guard let wanted else { return Array(labels.indices) }
        let total = wanted > 1 ? Int(wanted) : Int((wanted * Double(labels.count)).rounded())
        var generator = SeededGenerator(seed: 0)
        var chosen: [Int] = []
        for label in 0..<classes {
            var members = labels.indices.filter { Int(labels[$0]) == label }
            members.shuffle(using: &generator)
            chosen += members.prefix(total / classes + (label < total % classes ? 1 : 0))
        }
        return chosen.sorted()
    }

    /// A trainer reading inputs through the cached views (epoch e uses view (e-1) mod V) and
    /// batches of random cache blocks, or random rows of `indices` when given.
    func trainer(_ model: any Classifier, config: TrainingConfig, folder: RunFolder, name: String,
                 attributes: [String: AttributeValue], indices: [Int]?, threads: Int) -> Trainer {
        let trainer = Trainer(model: model, trainSet: train, testSet: test, normalization: normalization, config: config,
                              folder: folder, name: name, attributes: attributes, threads: threads)
        trainer.planner = indices.map { .shuffled(indices: $0) } ?? .blocks(count: train.count, blockRows: blockRows, excluded: skipped)
        trainer.inputs = { [unowned self] indices, epoch in
            self.train.batch(indices, normalization: self.normalization, views: indices.map { self.viewTable[self.view(epoch: epoch)][$0] },
                             padding: self.padding)
        }
        return trainer
    }

    /// The cached view epoch `epoch` (1-based) reads.
    func view(epoch: Int) -> Int { (epoch - 1) % views }
}
