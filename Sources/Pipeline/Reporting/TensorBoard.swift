// TensorBoard event files, written by hand: TFRecord framing (length, masked CRC-32C of the length,
// the bytes, masked CRC-32C of the bytes) around `Event` protocol buffers holding scalar summaries.
// The file is rebuilt from metrics.jsonl after every epoch, so a resumed run never duplicates steps.
import Foundation
import Hashing

/// Writes a run's TensorBoard event file (`RunFolder.events`) from its epoch records.
public enum TensorBoardLog {
    /// Replaces the event file at `path` with one scalar event per metric per record.
    public static func write(_ records: [EpochRecord], to path: String, now: Date = Date()) throws {
        var file = Data()
        let start = now.timeIntervalSince1970 - records.reduce(0) { $0 + $1.seconds }
        file += record(event(wallTime: start, step: 0, fileVersion: "brain.Event:2"))
        var elapsed = 0.0
        for r in records {
            elapsed += r.seconds
            let scalars: [(String, Double)] = [("train/loss", r.trainLoss), ("train/accuracy", r.trainAccuracy), ("test/loss", r.testLoss),
                                               ("test/accuracy", r.testAccuracy), ("learning_rate", r.learningRate),
                                               ("images_per_second", r.imagesPerSecond)] + (r.agreement.map { [("test/agreement", $0)] } ?? [])
                + (r.extra ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            file += record(event(wallTime: start + elapsed, step: r.epoch, scalars: scalars))
        }
        try file.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// An `Event` message: wall_time (1, double), step (2, int64), then file_version (3) or a
    /// summary (5) whose values (1) each hold a tag (1) and a simple_value (2, float).
    static func event(wallTime: Double, step: Int, fileVersion: String? = nil, scalars: [(String, Double)] = []) -> Data {
        var message = Data([0x09]) + littleEndian(wallTime.bitPattern) + Data([0x10]) + varint(UInt64(step))
        if let fileVersion { message += lengthDelimited(3, Data(fileVersion.utf8)) }
        if !scalars.isEmpty {
            let values = scalars.map { tag, value in
                lengthDelimited(1, lengthDelimited(1, Data(tag.utf8)) + Data([0x15]) + littleEndian(Float(value).bitPattern))
            }
            message += lengthDelimited(5, values.reduce(Data(), +))
        }
        return message
    }

    /// TFRecord framing of one message.
    static func record(_ data: Data) -> Data {
        let length = littleEndian(UInt64(data.count))
        return length + littleEndian(maskedCRC(length)) + data + littleEndian(maskedCRC(data))
    }

    /// TFRecord's masked CRC-32C of `data`.
    static func maskedCRC(_ data: Data) -> UInt32 {
        let crc = crc32c(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    private static func lengthDelimited(_ field: UInt64, _ payload: Data) -> Data {
        varint(field << 3 | 2) + varint(UInt64(payload.count)) + payload
    }

    private static func varint(_ value: UInt64) -> Data {
        var (value, bytes) = (value, Data())
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> Data {
        withUnsafeBytes(of: value.littleEndian) { Data($0) }
    }
}
