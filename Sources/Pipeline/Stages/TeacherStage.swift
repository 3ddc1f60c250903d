// The teacher stage: train the configured teacher on the configured dataset.
import Datasets
import Foundation
import HDF5
import Losses
import NN
import Parallel

/// Trains (or resumes, or finds finished) the pipeline's teacher under `runs/<name>/teacher/`.
public enum TeacherStage {
    /// Trains the teacher with `threads` compute threads; `restart` starts again from scratch. A
    /// teacher given by `cache.teacher_checkpoint` is not trained: it is loaded and checked against
    /// `teacher.arch` and the dataset. An external teacher (`cache.external`) is not trained either.
    /// Both return nil, after saying so.
    @discardableResult
    public static func run(_ config: PipelineConfig, configText: String, restart: Bool = false,
                           threads: Int = ComputeThreads.count) throws -> TrainingSummary? {
        // The students' methods must fit the cache the pipeline asks for before hours go into a teacher.
        try DistillStage.validatePlan(config)
        let teacherConfig: TrainingConfig
        switch config.teacherSource {
        case .trained(let settings):
            if case .path(let path) = config.cacheSettings.teacherCheckpoint {
                let teacher = try LoadedTeacher(path: path, source: try openImageSource(config.data.train), arch: settings.arch,
                                                normalization: config.data.normalization)
                print("teacher: \(path) (\(teacher.model.arch), \(teacher.model.parameterCount) parameters), "
                      + "given by cache.teacher_checkpoint: nothing to train"
                      + (settings.isArchitectureOnly ? "" : " (the teacher section's training settings are not used)"))
                return nil
            }
            teacherConfig = settings
        case .external(let path):
            let teacher = try ForeignTeacher(file: try HDF5File.open(path))
            print("teacher: external, none to train: \(teacher.description), known by its cache \(path) (written by \(teacher.writer))")
            return nil
        }
        let folder = RunLayout(config).teacher
        let lock = try RunLock(folder.lock, target: folder.path)
        defer { withExtendedLifetime(lock) {} }
        let trainSet = try ImageSet(path: config.data.train)
        let testSet = try ImageSet(path: config.data.test)
        try checkCompatible(trainSet, testSet, config)
        let model = try Models.make(teacherConfig.arch, classes: trainSet.classNames.count, inChannels: trainSet.channels,
                                    imageSize: trainSet.height, seed: teacherConfig.seed)
        print("teacher \(teacherConfig.arch): \(model.parameterCount) parameters, "
              + String(format: "%.1f", Double(model.macsPerImage) / 1e6) + " M multiply-adds per image; "
              + "\(trainSet.count) training images from \(trainSet.path), \(testSet.count) test images")
        let trainer = Trainer(model: model, trainSet: trainSet, testSet: testSet,
                              normalization: Normalization(mean: config.data.mean, std: config.data.std),
                              config: teacherConfig, folder: folder, name: "teacher",
                              attributes: checkpointAttributes(config, classes: trainSet.classNames, configText: configText), threads: threads)
        let summary = try trainer.run(restart: restart) { input, indices, _ in
            let logits = model(input)
            return (crossEntropy(logits: logits, labels: indices.map { Int(trainSet.labels[$0]) }), logits)
        }
        print(String(format: "teacher: best test accuracy %.2f%% (epoch %d), last %.2f%%, %@ of training at %.0f images/s",
                     100 * summary.bestAccuracy, summary.bestEpoch, 100 * summary.lastAccuracy,
                     formatDuration(summary.trainSeconds), summary.imagesPerSecond))
        print("checkpoints: \(folder.best), \(folder.last); metrics: \(folder.metrics)")
        return summary
    }

    /// The root attributes every checkpoint of this pipeline carries.
    static func checkpointAttributes(_ config: PipelineConfig, classes: [String], configText: String) -> [String: AttributeValue] {
        ["num_classes": .int(Int64(classes.count)), "classes": .strings(classes),
         "input_mean": .doubles(config.data.mean), "input_std": .doubles(config.data.std),
         "pipeline": .string(config.name), "pipeline_config": .string(configText)]
    }

    /// Train and test sets must agree with each other and with the normalisation.
    static func checkCompatible(_ train: ImageSet, _ test: ImageSet, _ config: PipelineConfig) throws {
        guard train.channels == config.data.mean.count else {
            throw DatasetError(train.path, "\(train.channels) channel(s), but data.mean has \(config.data.mean.count) value(s)")
        }
        guard (test.height, test.width, test.channels) == (train.height, train.width, train.channels) else {
            throw DatasetError(test.path, "images are \(test.height)x\(test.width)x\(test.channels); the training images are \(train.height)x\(train.width)x\(train.channels)")
        }
        guard test.classNames == train.classNames else {
            throw DatasetError(test.path, "classes \(test.classNames) differ from the training set's \(train.classNames)")
        }
    }
}
