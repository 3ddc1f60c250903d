// Precompute throughput per teacher (logits only: the teacher's forward pass plus the pipeline
// around it), and peak memory of a full precompute for 10,000 and 60,000 images.
import Checkpoints
import Datasets
import Foundation
import HDF5
import NN
import Parallel
import Pipeline

enum PrecomputeBench {
    static func run() throws {
        let folder = NSTemporaryDirectory() + "kdbench-precompute-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        if ProcessInfo.processInfo.environment["KDBENCH_MEMORY_ONLY"] == nil {
            try throughput(folder)
        }
        try memory(folder)
    }

    static func throughput(_ folder: String) throws {
        print("Logits-only precompute (reader, teacher, writer), random-init teachers, \(ComputeThreads.count) threads.\n")
        print(row(["teacher", "images", "precompute img/s"]))
        print(row(["---", "---:", "---:"]))
        let cifar = "../shared/datasets/cifar10/train.h5"
        var cases = [("mnist_teacher", "data/fashion-mnist/train.h5", 60_000)]
        if FileManager.default.fileExists(atPath: cifar) { cases += [("wrn_40_2", cifar, 2_048), ("resnet32x4", cifar, 1_024)] }
        for (arch, data, count) in cases {
            let rate = try precompute(arch: arch, data: data, count: count, cache: "cache: {batch_size: 128}", folder: folder + "/" + arch)
            print(row([arch, "\(count)", String(format: "%.0f", rate)]))
        }
    }

    static func memory(_ folder: String) throws {
        print("\nPeak memory (maximum resident set) of `kd precompute` with the default pipeline's cache settings, mnist_teacher:\n")
        print(row(["images", "peak RSS MiB", "seconds"]))
        print(row(["---", "---:", "---:"]))
        let (config, _) = try PipelineConfig.load("pipelines/fashion-mnist.yaml")
        guard case .trained(let teacher) = config.teacherSource else { return }  // the default pipeline trains its teacher
        let cacheText = try String(contentsOfFile: "pipelines/fashion-mnist.yaml", encoding: .utf8)
            .components(separatedBy: "\ncache:").last.map { "cache:" + $0 } ?? ""
        for count in [10_000, 60_000] {
            let run = folder + "/memory-\(count)"
            let (peak, seconds) = try precomputeChild(arch: teacher.arch, data: config.data.train, count: count,
                                                      cache: cacheText, folder: run)
            print(row(["\(count)", String(format: "%.0f", Double(peak) / 1024), String(format: "%.0f", seconds)]))
            try? FileManager.default.removeItem(atPath: run)
        }
    }

    /// Writes a packed subset, a random-init teacher checkpoint and a pipeline file; returns the pipeline path.
    static func prepare(arch: String, data: String, count: Int, cache: String, folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let source = try openImageSource(data)
        let subset = folder + "/train.h5"
        let writer = try PackedWriter(path: subset, count: count, height: source.height, width: source.width,
                                      channels: source.channels, classNames: source.classNames)
        for start in stride(from: 0, to: count, by: 8192) {
            let batch = try source.batch(start..<min(count, start + 8192))
            try writer.append(pixels: batch.pixels, labels: batch.labels)
        }
        try writer.finish()
        let model = try Models.make(arch, classes: source.classNames.count, inChannels: source.channels, imageSize: source.height, seed: 1)
        let mean = [Double](repeating: 0.5, count: source.channels), std = [Double](repeating: 0.25, count: source.channels)
        let teacher = folder + "/teacher.h5"
        try Checkpoint.save(model, to: teacher, attributes: ["num_classes": .int(Int64(source.classNames.count)),
                                                             "input_mean": .doubles(mean), "input_std": .doubles(std)])
        let yaml = """
            name: bench
            data: {train: \(subset), test: \(subset), mean: \(mean), std: \(std)}
            teacher:
              arch: \(arch)
              epochs: 1
              batch_size: 128
              seed: 0
              optimizer: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine}
              augment: {crop_padding: 0, flip: false}
            \(cache.replacingOccurrences(of: "teacher_checkpoint: last", with: "teacher_checkpoint: \(teacher)"))
            """
        let path = folder + "/bench.yaml"
        try (yaml.contains("teacher_checkpoint") ? yaml : yaml.replacingOccurrences(of: "cache: {", with: "cache: {teacher_checkpoint: \(teacher), "))
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func precompute(arch: String, data: String, count: Int, cache: String, folder: String) throws -> Double {
        let path = try prepare(arch: arch, data: data, count: count, cache: cache, folder: folder)
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(folder)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let (config, text) = try PipelineConfig.load(path)
        let summary = try PrecomputeStage.run(config, configText: text)
        return Double(summary.computedRows) / summary.seconds
    }

    /// Runs `kd precompute` as a child process; returns its peak resident set (KiB) and wall time.
    static func precomputeChild(arch: String, data: String, count: Int, cache: String, folder: String) throws -> (Int, Double) {
        let path = try prepare(arch: arch, data: data, count: count, cache: cache, folder: folder)
        let kd = FileManager.default.currentDirectoryPath + "/.build/release/kd"
        let arguments = [kd, "precompute", "--config", path]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(folder)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        var pid: pid_t = 0
        let start = Date()
        guard posix_spawn(&pid, kd, &actions, nil, &argv, environ) == 0 else { throw CocoaError(.executableLoad) }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        return (usage.ru_maxrss, Date().timeIntervalSince(start))
    }
}
