// The cache against the teacher it replaces: reading each group for one distill epoch in random
// mini-batches of 128, against running the teacher over the same epoch; and bytes per image.
import Foundation
import HDF5
import Losses
import NN
import Pipeline
import Tensor

enum CacheBench {
    static let pipeline = "pipelines/fashion-mnist.yaml"

    static func run() throws {
        let (config, _) = try PipelineConfig.load(pipeline)
        guard FileManager.default.fileExists(atPath: config.layout.cache) else {
            print("no \(config.layout.cache): run `make precompute` first; skipping the cache section")
            return
        }
        let reader = try CacheReader(path: config.layout.cache)
        let epoch = reader.count, batch = 128
        var generator = SeededGenerator(seed: 5)
        var order = Array(0..<epoch)
        order.shuffle(using: &generator)
        let batches = stride(from: 0, to: epoch, by: batch).map { Array(order[$0..<min(epoch, $0 + batch)]) }

        let teacher = try teacherSeconds(config, batches: batches)
        print("One epoch of \(epoch) images in random mini-batches of \(batch), file in the page cache; median of 3.")
        print("Teacher for that epoch: forward \(String(format: "%.1f", teacher.forward)) s, forward + input gradient \(String(format: "%.1f", teacher.withGradient)) s.\n")
        let blockRows = config.cacheSettings.chunkRows
        var blockGenerator = SeededGenerator(seed: 6)
        let blockBatches = blockShuffledBatches(count: epoch, batchSize: batch, blockRows: blockRows, generator: &blockGenerator)
        print("Two ways to read: one read per image (random rows), or random blocks of \(blockRows) consecutive images (the chunk), \(batch / blockRows) blocks a batch.\n")
        print(row(["group", "bytes/image", "float32 bytes/image", "random rows s/epoch", "random blocks s/epoch", "teacher s/epoch", "teacher / blocks"]))
        print(row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]))
        let file = try HDF5File.open(config.layout.cache)
        for group in try reader.datasets() {
            let info = try file.info(group.path)
            let randomBatches = group.rowLength > 4096 ? Array(batches.prefix(batches.count / 10)) : batches
            let (sampled, blockSeconds) = try {
                switch group.type {
                case .float16: try timeReads(Float16.self, reader, group.path, randomBatches, blockBatches)
                case .uint8: try timeReads(UInt8.self, reader, group.path, randomBatches, blockBatches)
                case .int32: try timeReads(Int32.self, reader, group.path, randomBatches, blockBatches)
                default: try timeReads(Float.self, reader, group.path, randomBatches, blockBatches)
                }
            }()
            let seconds = sampled * Double(batches.count) / Double(randomBatches.count)
            let teacherSeconds = group.path.hasPrefix("input_grad") ? teacher.withGradient : teacher.forward
            let rowsStored = info.shape[0] * info.shape[1]
            print(row([group.path, String(format: "%.0f", Double(info.storedBytes) / Double(rowsStored)),
                       "\(group.rowLength * 4)", String(format: "%.3f", seconds), String(format: "%.3f", blockSeconds),
                       String(format: "%.1f", teacherSeconds), String(format: "%.0fx", teacherSeconds / blockSeconds)]))
        }
        let bytes = (try FileManager.default.attributesOfItem(atPath: config.layout.cache)[.size] as? NSNumber)?.intValue ?? 0
        print("\nWhole file: \(formatBytes(bytes)), \(bytes / reader.count) bytes per image.")
    }

    /// Seconds to read an epoch of `group` in its stored type: one read per image of `rowBatches`
    /// (once), and one read per block of `blockBatches` (median of 3).
    static func timeReads<T: HDF5Element>(_: T.Type, _ reader: CacheReader, _ group: String, _ rowBatches: [[Int]],
                                          _ blockBatches: [[Range<Int>]]) throws -> (rows: Double, blocks: Double) {
        let rows = try medianSeconds(repeats: 1, warmUps: 0) {
            for indices in rowBatches { _ = try reader.rows(group, as: T.self, view: 0, indices: indices) }
        }
        let blocks = try medianSeconds(repeats: 3, warmUps: 1) {
            for batch in blockBatches {
                for rows in batch { _ = try reader.block(group, as: T.self, view: 0, rows: rows) }
            }
        }
        return (rows, blocks)
    }

    /// The teacher's time for the epoch: forward only, and forward plus input gradients.
    static func teacherSeconds(_ config: PipelineConfig, batches: [[Int]]) throws -> (forward: Double, withGradient: Double) {
        guard case .trained(let teacher) = config.teacherSource else { return (0, 0) }  // an external teacher cannot be timed here
        let set = try ImageSet(path: config.data.train)
        let model = try Models.make(teacher.arch, classes: set.classNames.count, inChannels: set.channels, imageSize: set.height, seed: 0)
        model.train(false)
        let normalization = Normalization(mean: config.data.mean, std: config.data.std)
        let forward = medianSeconds(repeats: 3, warmUps: 0) {
            for indices in batches { GradMode.withoutGrad { _ = model(set.batch(indices, normalization: normalization)) } }
        }
        let withGradient = medianSeconds(repeats: 1, warmUps: 0) {
            for indices in batches {
                let x = set.batch(indices, normalization: normalization)
                x.requiresGrad = true
                let loss = crossEntropy(logits: model(x), labels: indices.map { Int(set.labels[$0]) })
                _ = gradients(of: loss, wrt: [x])
            }
        }
        return (forward, withGradient)
    }
}
