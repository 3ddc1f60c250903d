// What identifies a cache's inputs and where they came from: the dataset's fingerprint (shape,
// classes, labels, pixels), the tool's version, absolute provenance paths.
import Datasets
import Foundation
import Hashing

/// SHA-256 over the images' shape, class names, labels and pixels, streamed (unreadable images
/// count as black with `skipBad`).
public func datasetFingerprint(_ source: any ImageSource, skipBad: Bool = false) throws -> String {
    var digest = SHA256()
    digest.update(Array("\(source.count)x\(source.height)x\(source.width)x\(source.channels)|\(source.classNames.joined(separator: "|"))".utf8))
    digest.update(values: source.labels)
    for start in stride(from: 0, to: source.count, by: 4096) {
        digest.update(try readImages(source, rows: start..<Swift.min(source.count, start + 4096), skipBad: skipBad, report: false).0.pixels)
    }
    return digest.hexDigest()
}

/// `path` from the current folder made absolute, so a file's provenance works from anywhere.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}

/// The size in bytes of the file at `path`; a file that cannot be examined is an error.
func fileBytes(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
}

/// The version written into files.
public let toolVersion = "kd 0.1"

