// The IDX format of MNIST, Fashion-MNIST and KMNIST (raw or gzipped), imported into packed HDF5.
import Foundation
import HDF5

/// An IDX array of unsigned bytes: `dimensions` big-endian sizes, then the values.
struct IDXArray {
    var dimensions: [Int]
    var values: ArraySlice<UInt8>

    /// Parses an IDX file, inflating it first when gzipped. Only unsigned-byte data (type 0x08)
    /// occurs in the MNIST family; any other type, or a size that does not match, is an error.
    init(file path: String) throws {
        let bytes = try Gzip.readMaybeCompressed(path)
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError(path, "not an IDX file (the first two bytes must be zero)")
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError(path, String(format: "IDX element type 0x%02x; only unsigned bytes (0x08) are supported", bytes[2]))
        }
        let rank = Int(bytes[3])
        let headerSize = 4 + 4 * rank
        guard rank > 0, bytes.count >= headerSize else { throw DatasetError(path, "truncated IDX header") }
        dimensions = (0..<rank).map { axis in
            (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * axis + $1]) }
        }
        let expected = dimensions.reduce(1, *)
        guard bytes.count - headerSize == expected else {
            throw DatasetError(path, "IDX header announces \(dimensions) (\(expected) bytes) but \(bytes.count - headerSize) bytes follow")
        }
        values = bytes[headerSize...]
    }
}

/// Imports an IDX image file (`[N,H,W]`) and its label file (`[N]`) into a packed HDF5 file.
public func importIDX(images imagesPath: String, labels labelsPath: String, classNames: [String],
                      to path: String, options: PackOptions = PackOptions()) throws {
    let images = try IDXArray(file: imagesPath)
    let labels = try IDXArray(file: labelsPath)
    guard images.dimensions.count == 3 else {
        throw DatasetError(imagesPath, "IDX images have shape \(images.dimensions), expected [N,H,W]")
    }
    guard labels.dimensions.count == 1, labels.dimensions[0] == images.dimensions[0] else {
        throw DatasetError(labelsPath, "IDX labels have shape \(labels.dimensions), expected [\(images.dimensions[0])] to match \(imagesPath)")
    }
    let writer = try PackedWriter(
        path: path, count: images.dimensions[0], height: images.dimensions[1], width: images.dimensions[2],
        channels: 1, classNames: classNames,
        attributes: ["source": .strings([imagesPath, labelsPath]), "source_format": "idx"], options: options)
    try writer.append(pixels: Array(images.values), labels: labels.values.map { Int32($0) })
    try writer.finish()
}
