// Metrics as JSON lines: one object per epoch, readable by jq, pandas or any JSON tool.
import Foundation

/// What one epoch of training produced.
public struct EpochRecord: Codable, Sendable {
    /// The epoch (1-based).
    public var epoch: Int
    /// What trained: `teacher`, or the student and its initialisation stage (`fitnet hint`), or the student.
    public var run: String
    /// Mean training loss over the epoch's images.
    public var trainLoss: Double
    /// Top-1 accuracy in 0...1 on the images trained on, measured during training.
    public var trainAccuracy: Double
    /// Mean test cross-entropy.
    public var testLoss: Double
    /// Test top-1 accuracy in 0...1.
    public var testAccuracy: Double
    /// Test accuracy per class in 0...1, in label order.
    public var perClassAccuracy: [Double]
    /// The learning rate of the epoch's last batch.
    public var learningRate: Double
    /// Training seconds of the epoch (evaluation excluded).
    public var seconds: Double
    /// Training images per second.
    public var imagesPerSecond: Double
    /// Share of test images where the model's class is the teacher's (students only).
    public var agreement: Double?
    /// Further metrics of a run, such as AB's `activation_similarity/<layer>` (share of agreeing firings).
    public var extra: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case epoch, run, seconds, agreement, extra
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss", testAccuracy = "test_accuracy"
        case perClassAccuracy = "per_class_accuracy", learningRate = "learning_rate", imagesPerSecond = "images_per_second"
    }
}

extension EpochRecord {
    /// Logs written before `run` had its name call it `stage`; both read.
    private enum LegacyKeys: String, CodingKey { case stage }

    /// Decodes one line of `metrics.jsonl`, of this version or an earlier one.
    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try keys.decode(Int.self, forKey: .epoch)
        run = try keys.decodeIfPresent(String.self, forKey: .run)
            ?? decoder.container(keyedBy: LegacyKeys.self).decode(String.self, forKey: .stage)
        trainLoss = try keys.decode(Double.self, forKey: .trainLoss)
        trainAccuracy = try keys.decode(Double.self, forKey: .trainAccuracy)
        testLoss = try keys.decode(Double.self, forKey: .testLoss)
        testAccuracy = try keys.decode(Double.self, forKey: .testAccuracy)
        perClassAccuracy = try keys.decode([Double].self, forKey: .perClassAccuracy)
        learningRate = try keys.decode(Double.self, forKey: .learningRate)
        seconds = try keys.decode(Double.self, forKey: .seconds)
        imagesPerSecond = try keys.decode(Double.self, forKey: .imagesPerSecond)
        agreement = try keys.decodeIfPresent(Double.self, forKey: .agreement)
        extra = try keys.decodeIfPresent([String: Double].self, forKey: .extra)
    }
}

/// An append-only `metrics.jsonl`.
public struct MetricsLog {
    /// The `metrics.jsonl` file.
    public let path: String

    /// The log at `path` (created by the first append).
    public init(path: String) { self.path = path }

    /// The records written so far (none when the file does not exist).
    public func records() throws -> [EpochRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            try decoder.decode(EpochRecord.self, from: Data(line.utf8))
        }
    }

    /// Keeps only the first `count` records (a resumed run rewrites what comes after).
    public func truncate(to count: Int) throws {
        let kept = try records().prefix(count)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = try kept.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Appends one record.
    public func append(_ record: EpochRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try encoder.encode(record), as: UTF8.self) + "\n"
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
    }
}
