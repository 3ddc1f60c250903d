// Writing packed HDF5 image files: `images uint8 [N,H,W,C]`, `labels int32 [N]`, `classes`.
import Foundation
import HDF5

/// How a packed image file is stored. The defaults come from the measurements in BENCHMARKS.md
/// (`make bench`): random mini-batches of 128 rows read fastest from small uncompressed chunks.
public struct PackOptions: Sendable {
    /// Images per chunk.
    public var chunkRows: Int
    /// gzip level, or nil for none.
    public var gzip: Int?
    /// Byte-shuffle before gzip.
    public var shuffle: Bool

    /// Options with 64-image chunks, no gzip and no shuffle by default.
    public init(chunkRows: Int = 64, gzip: Int? = nil, shuffle: Bool = false) {
        self.chunkRows = chunkRows
        self.gzip = gzip
        self.shuffle = shuffle
    }

    var storage: Storage { .rows(chunkRows, shuffle: shuffle, gzip: gzip) }
}

/// Writes a packed image file of a known number of images, batch by batch, under a temporary
/// name; `finish()` renames it into place. Dropped unfinished, the temporary file is deleted.
public final class PackedWriter {
    /// The final path, where `finish()` puts the file.
    public let path: String
    /// `N`, the number of images the file holds once finished.
    public let count: Int
    /// The open file and its two datasets; released by `finish()` so other processes can open it.
    private var open: (file: HDF5File, images: Dataset<UInt8>, labels: Dataset<Int32>)?
    private let classCount: Int
    private var written = 0

    /// Creates the temporary file with `images uint8 [count, height, width, channels]`, `labels int32 [count]`
    /// and the `classes` attribute.
    ///
    /// - Parameters:
    ///   - attributes: extra root attributes, such as `source` (where the images came from).
    public init(path: String, count: Int, height: Int, width: Int, channels: Int, classNames: [String],
                attributes: [String: AttributeValue] = [:], options: PackOptions = PackOptions()) throws {
        self.path = path
        self.count = count
        self.classCount = classNames.count
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent.isEmpty ? "."
                                                : (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let file = try HDF5File.createAtomically(path)
        let images = try file.createDataset("images", of: UInt8.self, shape: [count, height, width, channels], storage: options.storage)
        let labels = try file.createDataset("labels", of: Int32.self, shape: [count], storage: .rows(max(1, min(count, 1 << 16))))
        try images.setAttribute("layout", "NHWC")
        try labels.setAttribute("meaning", "index into the root attribute 'classes'")
        try file.setAttribute("classes", classNames)
        try file.setAttribute("format", "kd packed images")
        try file.setAttribute("schema_version", 1)
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            try file.setAttribute(name, value)
        }
        open = (file, images, labels)
    }

    /// Appends images (NHWC bytes) and their labels.
    public func append(pixels: [UInt8], labels batchLabels: [Int32]) throws {
        guard let (_, images, labels) = open else { throw DatasetError(path, "already finished") }
        guard written + batchLabels.count <= count else {
            throw DatasetError(path, "more than the \(count) images announced")
        }
        if let bad = batchLabels.first(where: { $0 < 0 || Int($0) >= classCount }) {
            throw DatasetError(path, "label \(bad) outside 0..<\(classCount)")
        }
        try images.write(pixels, startingAtRow: written)
        try labels.write(batchLabels, startingAtRow: written)
        written += batchLabels.count
    }

    /// Checks that every image was written and renames the file into place.
    public func finish() throws {
        guard written == count else {
            throw DatasetError(path, "only \(written) of \(count) images were written")
        }
        try open?.file.commit()
        open = nil
    }
}

/// Packs any image source into an HDF5 file, `batchSize` images at a time.
public func pack(_ source: any ImageSource, to path: String, attributes: [String: AttributeValue] = [:],
                 options: PackOptions = PackOptions(), batchSize: Int = 1024,
                 progress: ((Int, Int) -> Void)? = nil) throws {
    var attributes = attributes
    attributes["source"] = attributes["source"] ?? .string(source.path)
    let writer = try PackedWriter(path: path, count: source.count, height: source.height, width: source.width,
                                  channels: source.channels, classNames: source.classNames,
                                  attributes: attributes, options: options)
    for start in stride(from: 0, to: source.count, by: batchSize) {
        let batch = try source.batch(start..<min(source.count, start + batchSize))
        try writer.append(pixels: batch.pixels, labels: batch.labels)
        progress?(start + batch.count, source.count)
    }
    try writer.finish()
}
