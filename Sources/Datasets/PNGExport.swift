// Exporting any image source to a PNG folder, `root/<class>/<index>.png`, readable back as a
// PNGFolderSource with the same labels: `root/classes.txt` lists the classes in label order (a
// `/` in a class name, Fashion-MNIST's "T-shirt/top", becomes `_` in its folder's name).
import Foundation
import ImageIO
import Parallel

/// The folder name used for a class: the name with `/` replaced by `_`.
public func folderName(forClass name: String) -> String {
    name.replacingOccurrences(of: "/", with: "_")
}

/// Writes the images at `indices` of `source` (all when nil) as PNG files under `root`, one
/// folder per class, named by their index in the source (zero-padded so names sort in order).
/// Returns the number of files written.
@discardableResult
public func exportPNG(_ source: any ImageSource, to root: String, indices: [Int]? = nil, threads: Int = 2,
                      batchSize: Int = 1024, progress: ((Int, Int) -> Void)? = nil) throws -> Int {
    let indices = indices ?? Array(0..<source.count)
    let folders = source.classNames.map { root + "/" + folderName(forClass: $0) }
    for folder in folders {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw DatasetError(folder, "cannot create the folder: \(error.localizedDescription)")
        }
    }
    let list = source.classNames.map { name in folderName(forClass: name) == name ? name : folderName(forClass: name) + "\t" + name }
    do {
        try (list.joined(separator: "\n") + "\n").write(toFile: root + "/" + PNGFolderSource.classListName, atomically: true, encoding: .utf8)
    } catch {
        throw DatasetError(root, "cannot write \(PNGFolderSource.classListName): \(error.localizedDescription)")
    }
    let digits = String(max(0, source.count - 1)).count
    for start in stride(from: 0, to: indices.count, by: batchSize) {
        let chunk = Array(indices[start..<min(indices.count, start + batchSize)])
        let batch = try source.batch(chunk)
        try parallelFor(chunk.count, threads: threads) { slot in
            let name = String(repeating: "0", count: max(0, digits - String(chunk[slot]).count)) + String(chunk[slot])
            try PNG.write(batch.image(slot), to: "\(folders[Int(batch.labels[slot])])/\(name).png")
        }
        progress?(start + chunk.count, indices.count)
    }
    return indices.count
}
