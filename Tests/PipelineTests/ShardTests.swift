// Sharded precompute end to end: `mpirun -np 2 kd precompute` against the single-process cache,
// dataset by dataset and byte for byte; a shard killed with kill -9 and resumed; shards made by two
// separate `--shard r/2` processes joined by `kd cache join`; refusals by name; materialize; h5py.
// All with one compute thread per process: the thread count changes the order of some sums.
import Foundation
import HDF5
import Pipeline
import Testing
import TestSupport

/// `mpirun`, when Open MPI is installed.
let mpirun = which("mpirun")

/// A tiny pipeline precomputed twice: by one process (`single.h5`) and by 2 MPI ranks (moved with
/// its shards into `mpi/`, which also checks the joined file's relative shard paths).
final class ShardFixture: @unchecked Sendable {
    let tiny: TinyPipeline
    var single: String { tiny.folder.file("single.h5") }
    var joined: String { tiny.folder.file("mpi/cache.h5") }
    let mpiOutput: String

    /// 160 images in batches of 16 (10 per view, so shard 0 of 2 is images 0..<80), 2 views, every group.
    static let cache = fullCache.replacingOccurrences(of: "batch_size: 64", with: "batch_size: 16")

    init() throws {
        tiny = try TinyPipeline(trainCount: 160, testCount: 100, epochs: 1, extra: Self.cache)
        try expectSuccess(try tiny.teacher(), "kd teacher")
        try expectSuccess(try tiny.precompute(["--threads", "1"]), "kd precompute")
        try FileManager.default.moveItem(atPath: tiny.cachePath, toPath: tiny.folder.file("single.h5"))
        let launched = try run(mpirun!, ["-np", "2", "--oversubscribe", tiny.kd, "precompute", "--config", tiny.folder.file("tiny.yaml"), "--threads", "1"],
                               environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"], currentDirectory: tiny.folder.path)
        try expectSuccess(launched, "mpirun -np 2 kd precompute")
        mpiOutput = launched.output
        try FileManager.default.createDirectory(atPath: tiny.folder.file("mpi"), withIntermediateDirectories: true)
        for name in ["cache.h5", "cache.shards"] {
            try FileManager.default.moveItem(atPath: tiny.folder.file("runs/tiny/" + name), toPath: tiny.folder.file("mpi/" + name))
        }
    }

    private static let made = Result { try ShardFixture() }
    /// Made once for the suite (its tests run one after another).
    static func shared() throws -> ShardFixture { try made.get() }
}

struct ShardSetupError: Error, CustomStringConvertible {
    let description: String
}

private func expectSuccess(_ result: ProcessResult, _ what: String) throws {
    guard result.status == 0 else { throw ShardSetupError(description: "\(what) failed (\(result.status)): \(result.error.suffix(2000))") }
}

/// Every dataset of `a` and `b` (the same names, shapes and bytes), each mismatch recorded by name.
/// Returns how many datasets were compared.
@discardableResult
func expectSameDatasets(_ a: String, _ b: String) throws -> Int {
    let first = try HDF5File.open(a), second = try HDF5File.open(b)
    func names(_ file: HDF5File) throws -> [String] {
        try file.walk().compactMap { entry in
            if case .dataset = entry.kind { return String(entry.path.dropFirst()) }
            return nil
        }
    }
    let listed = try names(first)
    #expect(listed == (try names(second)), "\(a) and \(b) hold different datasets")
    for name in listed {
        let x = try first.rawDataset(name), y = try second.rawDataset(name)
        #expect(x.shape == y.shape && x.elementSize == y.elementSize, "\(name): \(x.shape) vs \(y.shape)")
        guard x.shape == y.shape else { continue }
        let whole = x.shape.map { _ in 0 }
        #expect(try x.readBytes(offset: whole, count: x.shape) == y.readBytes(offset: whole, count: y.shape), "\(name) differs")
    }
    return listed.count
}

@Suite(.serialized, .enabled(if: mpirun != nil, "mpirun is not installed (Debian: openmpi-bin libopenmpi-dev; make deps)"))
struct ShardTests {
    @Test func twoRanksGiveTheSingleProcessCacheByteForByte() throws {
        let fixture = try ShardFixture.shared()
        #expect(fixture.mpiOutput.contains("joined 2 shards"), "\(fixture.mpiOutput)")
        #expect(try expectSameDatasets(fixture.single, fixture.joined) >= 16)

        let file = try HDF5File.open(fixture.joined)
        for name in ["logits", "features/conv2", "images", "labels", "progress", "views/dy", "input_grad"] {
            #expect(Set(try file.info(name).virtualFiles) == ["cache.shards/shard-0000-of-0002.h5", "cache.shards/shard-0001-of-0002.h5"], "\(name)")
        }
        let single = try HDF5File.open(fixture.single)
        for key in ["teacher_sha256", "dataset_fingerprint", "cache_config", "num_samples", "num_views", "schema_version", "classes"] {
            #expect(try file.attribute(key) == single.attribute(key), "\(key)")
        }
        #expect(try file.attribute("shard_count") == .int(2) && file.attribute("shard_first_images") == .ints([0, 80]))
        let shard = try HDF5File.open(fixture.tiny.folder.file("mpi/cache.shards/shard-0001-of-0002.h5"))
        #expect(try shard.info("logits").shape == [2, 80, 10] && shard.attribute("shard_first_image") == .int(80))

        // Readers see one cache: the reader's blocks, and verify-cache's recomputation.
        let reader = try CacheReader(path: fixture.joined)
        #expect(reader.count == 160 && reader.views == 2)
        let across = try reader.block("logits", as: Float.self, view: 1, rows: 70..<90)
        #expect(across == (try CacheReader(path: fixture.single).block("logits", as: Float.self, view: 1, rows: 70..<90)))
        for check in try VerifyCache.run(path: fixture.joined, samples: 24) { #expect(check.passed, "\(check.name): \(check.detail)") }

        // Materialized: an ordinary file, laid out and filled as the single-process cache.
        let copy = fixture.tiny.folder.file("materialized.h5")
        let materialized = try run(fixture.tiny.kd, ["cache", "materialize", fixture.joined, copy])
        #expect(materialized.status == 0, "\(materialized.error)")
        try expectSameDatasets(fixture.single, copy)
        let plain = try HDF5File.open(copy)
        #expect(try plain.info("logits").virtualFiles.isEmpty && plain.info("logits").chunks == single.info("logits").chunks)
        #expect(try !plain.hasAttribute("shard_count"))
    }

    @Test func killedShardResumesAndSeparateShardsJoinToTheMPICache() throws {
        let fixture = try ShardFixture.shared()
        let tiny = fixture.tiny
        // Shard 0 by itself, killed with kill -9 half-way through its 10 batches.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tiny.kd)
        process.arguments = ["precompute", "--config", tiny.folder.file("tiny.yaml"), "--threads", "1", "--shard", "0/2"]
        process.currentDirectoryURL = URL(fileURLWithPath: tiny.folder.path)
        let progress = Pipe()
        process.standardError = progress
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = ""
        while process.isRunning && !seen.contains("[############") {
            seen += String(decoding: progress.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        func join() throws -> ProcessResult {
            try run(tiny.kd, ["cache", "join", "--config", tiny.folder.file("tiny.yaml")], currentDirectory: tiny.folder.path)
        }
        let missing = try join()
        #expect(missing.status != 0 && missing.error.contains("shard-0001-of-0002.h5") && missing.error.contains("missing"), "\(missing.error)")
        let second = try run(tiny.kd, ["precompute", "--config", tiny.folder.file("tiny.yaml"), "--threads", "1", "--shard", "1/2"],
                             currentDirectory: tiny.folder.path)
        #expect(second.status == 0, "\(second.error)")
        let incomplete = try join()
        #expect(incomplete.status != 0 && incomplete.error.contains("shard-0000-of-0002.h5") && incomplete.error.contains("incomplete"), "\(incomplete.error)")

        let resumed = try run(tiny.kd, ["precompute", "--config", tiny.folder.file("tiny.yaml"), "--threads", "1", "--shard", "0/2"],
                              currentDirectory: tiny.folder.path)
        #expect(resumed.status == 0 && resumed.output.contains("resuming at batch"), "\(resumed.output) \(resumed.error)")

        // A shard that claims another teacher is refused by name, then put back.
        let shardPath = tiny.folder.file("runs/tiny/cache.shards/shard-0001-of-0002.h5")
        let sha = try HDF5File.open(shardPath).attribute("teacher_sha256")
        try HDF5File.open(shardPath, mode: .readWrite).setAttribute("teacher_sha256", "0123")
        let foreign = try join()
        #expect(foreign.status != 0 && foreign.error.contains("shard-0001-of-0002.h5") && foreign.error.contains("another teacher"), "\(foreign.error)")
        try HDF5File.open(shardPath, mode: .readWrite).setAttribute("teacher_sha256", sha)

        let joined = try join()
        #expect(joined.status == 0 && joined.output.contains("2 shards, 160 images"), "\(joined.error)")
        try expectSameDatasets(fixture.joined, tiny.cachePath)
        try expectSameDatasets(fixture.single, tiny.cachePath)
        #expect(try tiny.precompute(["--shard", "1/2"]).output.contains("complete; reusing"))
        let tooMany = try tiny.precompute(["--shard", "0/11"])
        #expect(tooMany.status != 0 && tooMany.error.contains("11 shards need at least 11 batches"), "\(tooMany.error)")

        // A student distils from the joined cache as from any other.
        let pipeline = tiny.folder.file("tiny.yaml")
        try (try String(contentsOfFile: pipeline, encoding: .utf8) + """

            students:
              - {name: kd, method: kd, arch: mnist_student, epochs: 1, batch_size: 32, seeds: [0], labels: 100,
                 optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
                 terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}]}

            """).write(toFile: pipeline, atomically: true, encoding: .utf8)
        let distilled = try run(tiny.kd, ["distill", "--config", pipeline, "--threads", "1"], currentDirectory: tiny.folder.path)
        #expect(distilled.status == 0, "\(distilled.error)")
        #expect(FileManager.default.fileExists(atPath: tiny.folder.file("runs/tiny/students/kd/seed0/summary.json")))
    }

    @Test(.enabled(if: h5pyAvailable, "python3 with h5py is not available: the virtual cache is not read by h5py here"))
    func h5pyReadsTheVirtualCache() throws {
        let fixture = try ShardFixture.shared()
        let script = """
            import h5py, numpy as np, sys
            joined, single = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
            names = []
            single.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                assert joined[name].is_virtual, name
                assert np.array_equal(joined[name][()], single[name][()]), name
            assert joined["logits"][1, 75:85].shape == (10, 10)
            assert joined.attrs["shard_count"] == 2 and joined.attrs["num_samples"] == 160
            print("h5py read", len(names), "virtual datasets")
            """
        let result = try run(which("python3")!, ["-c", script, fixture.joined, fixture.single])
        #expect(result.status == 0 && result.output.contains("virtual datasets"), "\(result.error)")
    }
}
