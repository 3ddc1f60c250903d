// The PNG folder image source: `root/<class-name>/<image>.png`, classes sorted by name, or in the
// order a `classes.txt` in the root gives.
import Foundation
import ImageIO
import Parallel

/// A folder of PNG files, one sub-folder per class. The classes are the sub-folders sorted by
/// name (as torchvision's ImageFolder does), unless `root/classes.txt` lists them: one class per
/// line in label order, `<folder>` or `<folder><TAB><class name>` (what `exportPNG` writes, so a
/// packed file exported and imported again keeps its labels). Every image must have the size and
/// colour of the first; other files are skipped and counted. Decoding runs on `threads` threads.
public final class PNGFolderSource: ImageSource {
    /// The root folder.
    public let path: String
    /// Number of images found.
    public let count: Int
    /// Rows of every image (those of the first).
    public let height: Int
    /// Columns of every image (those of the first).
    public let width: Int
    /// 1 (grey) or 3 (RGB), that of the first image.
    public let channels: Int
    /// Class names in label order (sorted folders, or `classes.txt`).
    public let classNames: [String]
    /// `[count]` labels, in index order.
    public let labels: [Int32]
    /// Every image file, in index order.
    public let files: [String]
    /// Files and folders that are not PNG images in class folders, and were skipped.
    public let skipped: [String]
    private let threads: Int

    /// The file in the root that fixes the classes' order and names.
    public static let classListName = "classes.txt"

    /// Scans `root` and reads every PNG header, so a wrong size or colour is found at once.
    public init(root: String, threads: Int = 2) throws {
        let manager = FileManager.default
        let entries: [String]
        do { entries = try manager.contentsOfDirectory(atPath: root).sorted() } catch {
            throw DatasetError(root, "cannot list the folder: \(error.localizedDescription)")
        }
        var skipped: [String] = []
        let folders = entries.filter { entry in
            var isDirectory: ObjCBool = false
            let keep = !entry.hasPrefix(".") && manager.fileExists(atPath: root + "/" + entry, isDirectory: &isDirectory) && isDirectory.boolValue
            if !keep && entry != Self.classListName { skipped.append(root + "/" + entry) }
            return keep
        }
        let classes = try Self.classList(root: root, folders: folders)
        var files: [String] = [], labels: [Int32] = []
        for (label, (folder, _)) in classes.enumerated() {
            let path = root + "/" + folder
            for name in (try? manager.contentsOfDirectory(atPath: path).sorted()) ?? [] {
                let file = path + "/" + name
                if name.lowercased().hasSuffix(".png") && !name.hasPrefix(".") {
                    files.append(file)
                    labels.append(Int32(label))
                } else {
                    skipped.append(file)
                }
            }
        }
        let classNames = classes.map(\.name)
        guard let first = files.first else {
            throw DatasetError(root, "no PNG images in class folders (expected root/<class>/<image>.png)")
        }
        let headers = try Self.readHeaders(files, threads: threads)
        let expected = headers[0]
        if let bad = headers.indices.first(where: { headers[$0] != expected }) {
            let found = headers[bad]
            throw DatasetError(files[bad], "image is \(found.width)x\(found.height) with \(found.channels) channel(s); "
                               + "\(first) is \(expected.width)x\(expected.height) with \(expected.channels): all images must match")
        }
        self.path = root
        self.classNames = classNames
        self.files = files
        self.labels = labels
        self.skipped = skipped
        self.count = files.count
        self.height = expected.height
        self.width = expected.width
        self.channels = expected.channels
        self.threads = threads
    }

    /// `(folder, class name)` in label order: from `classes.txt` when present (every folder must
    /// be listed), else the folders sorted by name.
    static func classList(root: String, folders: [String]) throws -> [(folder: String, name: String)] {
        let listPath = root + "/" + classListName
        guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else { return folders.map { ($0, $0) } }
        let classes = text.split(separator: "\n", omittingEmptySubsequences: true).map { line -> (folder: String, name: String) in
            let parts = line.split(separator: "\t", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (parts[0], parts.count > 1 ? parts[1] : parts[0])
        }
        if let missing = folders.first(where: { folder in !classes.contains { $0.folder == folder } }) {
            throw DatasetError(listPath, "does not list the class folder '\(missing)' (it lists \(classes.map(\.folder).joined(separator: ", ")))")
        }
        return classes
    }

    private static func readHeaders(_ files: [String], threads: Int) throws -> [PNGHeader] {
        var headers = [PNGHeader](repeating: PNGHeader(width: 0, height: 0, channels: 0), count: files.count)
        try headers.withUnsafeMutableBufferPointer { buffer in
            let out = SendablePointer(base: buffer.baseAddress!)
            try parallelFor(files.count, threads: threads) { index in
                out.base[index] = try PNG.header(file: files[index])
            }
        }
        return headers
    }

    /// Decodes the PNGs at `indices` into one NHWC batch, on `threads` threads.
    public func batch(_ indices: [Int]) throws -> ImageBatch {
        let size = height * width * channels
        var pixels = [UInt8](repeating: 0, count: indices.count * size)
        let (files, channels) = (self.files, self.channels)
        let (height, width) = (self.height, self.width)
        try pixels.withUnsafeMutableBufferPointer { buffer in
            let out = SendablePointer(base: buffer.baseAddress!)
            try parallelFor(indices.count, threads: threads) { slot in
                let file = files[indices[slot]]
                let image = try PNG.read(file: file, channels: channels == 3 ? .rgb : .grey)
                guard image.width == width, image.height == height else {
                    throw DatasetError(file, "image is \(image.width)x\(image.height), expected \(width)x\(height)")
                }
                image.pixels.withUnsafeBufferPointer { source in
                    (out.base + slot * size).update(from: source.baseAddress!, count: size)
                }
            }
        }
        return ImageBatch(pixels: pixels, labels: indices.map { labels[$0] }, height: height, width: width, channels: channels)
    }
}
