// The packed HDF5 image source: `images uint8 [N,H,W,C]`, `labels [N]`, attribute `classes`.
import HDF5

/// Images packed in one HDF5 file, read by rows. Labels may be stored as any integer type.
public final class PackedImageSource: ImageSource {
    /// The HDF5 file.
    public let path: String
    /// `N`, the number of images.
    public let count: Int
    /// `H`, rows per image.
    public let height: Int
    /// `W`, columns per image.
    public let width: Int
    /// `C`: 1 (grey) or 3 (RGB).
    public let channels: Int
    /// The `classes` attribute, or `0`...`max label` when absent.
    public let classNames: [String]
    /// `[N]` labels, read once at opening.
    public let labels: [Int32]
    private let images: Dataset<UInt8>

    /// Opens and checks a packed file: shapes, types, label range and class names.
    public init(path: String) throws {
        let file = try HDF5File.open(path)
        images = try file.dataset("images", as: UInt8.self, rank: 4)
        guard images.storedType == .uint8 else {
            throw DatasetError(path, "images: holds \(images.storedType.rawValue), expected uint8 pixels")
        }
        let shape = try images.shape
        (count, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        guard channels == 1 || channels == 3 else {
            throw DatasetError(path, "images: \(channels) channels; expected 1 (grey) or 3 (RGB) in [N,H,W,C]")
        }
        labels = try file.dataset("labels", as: Int32.self, rank: 1).read()
        guard labels.count == count else {
            throw DatasetError(path, "labels: \(labels.count) labels for \(count) images")
        }
        let largest = Int(labels.max() ?? -1)
        if try file.hasAttribute("classes") {
            guard let names = try file.attribute("classes").stringsValue else {
                throw DatasetError(path, "attribute 'classes' is not a list of strings")
            }
            classNames = names
        } else {
            classNames = (0...max(0, largest)).map(String.init)
        }
        let classCount = classNames.count
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= classCount }) {
            throw DatasetError(path, "labels: label \(bad) outside 0..<\(classCount) (\(classCount) classes)")
        }
        self.path = path
    }

    /// The rows `indices` of `images [N, H, W, C]`, with their labels.
    public func batch(_ indices: [Int]) throws -> ImageBatch {
        let pixels = try images.read(rowIndices: indices)
        return ImageBatch(pixels: pixels, labels: indices.map { labels[$0] }, height: height, width: width, channels: channels)
    }
}
