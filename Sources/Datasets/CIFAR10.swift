// The official CIFAR-10 binary format (`data_batch_1.bin` ... `test_batch.bin`), imported into
// packed HDF5. Each record is 1 label byte then 3072 pixel bytes: the red plane, the green plane,
// the blue plane, each 32x32 row-major; the packed file stores them as HWC.
import Foundation
import HDF5

/// Reading the official CIFAR-10 binary batches: file names, class names and import to packed HDF5.
public enum CIFAR10 {
    static let side = 32
    static let recordSize = 1 + 3 * 32 * 32

    /// The official file names of a split: five training batches or the test batch.
    public static func files(in folder: String, split: String) throws -> [String] {
        switch split {
        case "train": return (1...5).map { "\(folder)/data_batch_\($0).bin" }
        case "test": return ["\(folder)/test_batch.bin"]
        default: throw DatasetError(folder, "unknown CIFAR-10 split '\(split)' (train or test)")
        }
    }

    /// Class names from `batches.meta.txt` beside the files when present, else the standard ten.
    public static func classNames(in folder: String) -> [String] {
        guard let text = try? String(contentsOfFile: folder + "/batches.meta.txt", encoding: .utf8) else {
            return ClassNames.cifar10
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.count == 10 ? names : ClassNames.cifar10
    }

    /// Imports binary batch files, in the order given, into one packed HDF5 file.
    public static func importBinary(files: [String], classNames: [String] = ClassNames.cifar10,
                                    to path: String, options: PackOptions = PackOptions()) throws {
        var counts: [Int] = []
        for file in files {
            let attributes: [FileAttributeKey: Any]
            do { attributes = try FileManager.default.attributesOfItem(atPath: file) } catch {
                throw DatasetError(file, "cannot read the file")
            }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            guard size > 0, size % recordSize == 0 else {
                throw DatasetError(file, "\(size) bytes is not a whole number of \(recordSize)-byte CIFAR-10 records")
            }
            counts.append(size / recordSize)
        }
        let writer = try PackedWriter(
            path: path, count: counts.reduce(0, +), height: side, width: side, channels: 3, classNames: classNames,
            attributes: ["source": .strings(files), "source_format": "cifar10-binary"], options: options)
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw DatasetError(file, "cannot read the file") }
            let (pixels, labels) = try decode([UInt8](data), name: file, classCount: classNames.count)
            try writer.append(pixels: pixels, labels: labels)
        }
        try writer.finish()
    }

    /// Turns records into HWC pixels and labels.
    static func decode(_ bytes: [UInt8], name: String, classCount: Int) throws -> ([UInt8], [Int32]) {
        let plane = side * side
        let count = bytes.count / recordSize
        var pixels = [UInt8](repeating: 0, count: count * 3 * plane)
        var labels = [Int32](repeating: 0, count: count)
        for record in 0..<count {
            let base = record * recordSize
            guard Int(bytes[base]) < classCount else {
                throw DatasetError(name, "record \(record) has label \(bytes[base]), but there are \(classCount) classes")
            }
            labels[record] = Int32(bytes[base])
            for pixel in 0..<plane {
                for channel in 0..<3 {
                    pixels[(record * plane + pixel) * 3 + channel] = bytes[base + 1 + channel * plane + pixel]
                }
            }
        }
        return (pixels, labels)
    }
}
