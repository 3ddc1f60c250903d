// The cost of joining shards into a virtual cache (`kd cache join`) as the shard count grows, and
// what reading through the joined file costs: 8,192 images in batches of 8 (1,024 batches) made
// as 2, 16, 128 and 1,024 shards of a random-init mnist_student's logits, attention and boundary.
import Foundation
import HDF5
import Pipeline
import Tensor

enum JoinBench {
    static func run() throws {
        let folder = NSTemporaryDirectory() + "kdbench-join-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cache = "cache: {batch_size: 8, chunk_rows: 8, attention: {layers: [pool], mode: sum_p, p: 2}, boundary: [fc1]}"
        let path = try PrecomputeBench.prepare(arch: "mnist_student", data: "data/fashion-mnist/train.h5", count: 8192, cache: cache, folder: folder)
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(folder)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let (config, text) = try PipelineConfig.load(path)
        let cachePath = RunLayout(config).cache
        print("8,192 images, 1 view, batches of 8; shards made in-process, then `CacheJoin.join` (median of 3) and reads through the join.")
        print("Epoch read: the 8,192 logits rows in random blocks of 8 through `CacheReader` (one reader, file in the page cache).\n")
        print(row(["shards", "make shards s", "join s", "cache.h5 bytes", "bytes/shard", "open s", "epoch read s"]))
        print(row(["---:", "---:", "---:", "---:", "---:", "---:", "---:"]))
        for count in [2, 16, 128, 1024] {
            let made = try quietly {
                try seconds { for index in 0..<count { try PrecomputeStage.run(config, configText: text, threads: 1, shard: Shard(index: index, count: count)) } }
            }
            var bytes = 0
            let join = try medianSeconds(repeats: 3, warmUps: 0) { bytes = try CacheJoin.join(cache: cachePath, shardCount: count).fileBytes }
            var reader: CacheReader?
            let open = try medianSeconds(repeats: 3, warmUps: 0) { reader = try CacheReader(path: cachePath) }
            var generator = SeededGenerator(seed: 3)
            let blocks = Array(stride(from: 0, to: 8192, by: 8)).shuffled(using: &generator)
            let read = try medianSeconds(repeats: 3) { for start in blocks { _ = try reader!.block("logits", as: Float.self, view: 0, rows: start..<(start + 8)) } }
            print(row(["\(count)", String(format: "%.1f", made), String(format: "%.3f", join), "\(bytes)", "\(bytes / count)",
                       String(format: "%.3f", open), String(format: "%.3f", read)]))
            reader = nil
            try FileManager.default.removeItem(atPath: ShardFiles.folder(of: cachePath))
            try FileManager.default.removeItem(atPath: cachePath)
        }
        // The same reads from an ordinary file, for comparison.
        try quietly { _ = try PrecomputeStage.run(config, configText: text, threads: 1) }
        let reader = try CacheReader(path: cachePath)
        var generator = SeededGenerator(seed: 3)
        let blocks = Array(stride(from: 0, to: 8192, by: 8)).shuffled(using: &generator)
        let read = try medianSeconds(repeats: 3) { for start in blocks { _ = try reader.block("logits", as: Float.self, view: 0, rows: start..<(start + 8)) } }
        print("\nThe single-process cache of the same rows: epoch read \(String(format: "%.3f", read)) s.")
    }

    /// Wall seconds of `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Runs `body` with standard output and error sent to /dev/null (the stage's own reports).
    static func quietly<R>(_ body: () throws -> R) rethrows -> R {
        fflush(nil)
        let savedOut = dup(1), savedError = dup(2), null = open("/dev/null", O_WRONLY)
        dup2(null, 1)
        dup2(null, 2)
        defer {
            fflush(nil)
            dup2(savedOut, 1)
            dup2(savedError, 2)
            close(null)
            close(savedOut)
            close(savedError)
        }
        return try body()
    }
}
