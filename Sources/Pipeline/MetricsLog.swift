// Metrics as JSON lines: one object per epoch, readable by jq, pandas or any JSON tool.
import Foundation

/// What one epoch of training produced.
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var stage: String
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double
    public var perClassAccuracy: [Double]
    public var learningRate: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Share of test images where the model's class is the teacher's (students only).
    public var agreement: Double?
    /// Further metrics of a stage, such as AB's `activation_similarity/<layer>` (share of agreeing firings).
    public var extra: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case epoch, stage, seconds, agreement, extra
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss", testAccuracy = "test_accuracy"
        case perClassAccuracy = "per_class_accuracy", learningRate = "learning_rate", imagesPerSecond = "images_per_second"
    }
}

/// An append-only `metrics.jsonl`.
public struct MetricsLog {
    public let path: String

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
