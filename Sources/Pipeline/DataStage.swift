// The data stage: making image sources ready for the later stages.
import Datasets
import Foundation
import HDF5

/// Imports the standard datasets into packed HDF5 files.
public enum DataStage {
    /// Where Debian's `dataset-fashion-mnist` package puts the original IDX files.
    public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Packs Fashion-MNIST's IDX files from `source` into `output/train.h5` (60,000 images) and
    /// `output/test.h5` (10,000). Returns the files written.
    @discardableResult
    public static func fashionMNIST(source: String = debianFashionMNIST, output: String,
                                    options: PackOptions = PackOptions()) throws -> [String] {
        let splits = [("train", "train"), ("test", "t10k")]
        var written: [String] = []
        for (split, prefix) in splits {
            let images = try locate("\(source)/\(prefix)-images-idx3-ubyte",
                                    hint: "install Debian's dataset-fashion-mnist (make deps) or pass --source")
            let labels = try locate("\(source)/\(prefix)-labels-idx1-ubyte",
                                    hint: "install Debian's dataset-fashion-mnist (make deps) or pass --source")
            let path = "\(output)/\(split).h5"
            try importIDX(images: images, labels: labels, classNames: ClassNames.fashionMNIST, to: path, options: options)
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
}
