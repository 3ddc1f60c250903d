// Import time and random mini-batch read rate of packed Fashion-MNIST per storage layout, and PNG
// folder decode rate on 1 and 2 threads.
import Datasets
import Foundation
import HDF5
import Tensor

enum DataBench {
    static let source = "/usr/share/datasets/fashion-mnist"
    static let layouts: [(String, PackOptions?)] = [
        ("contiguous", nil),
        ("chunks of 64, no filter (default)", PackOptions(chunkRows: 64)),
        ("chunks of 256, no filter", PackOptions(chunkRows: 256)),
        ("chunks of 64, gzip 4", PackOptions(chunkRows: 64, gzip: 4)),
        ("chunks of 1024, shuffle+gzip 4", PackOptions(chunkRows: 1024, gzip: 4, shuffle: true)),
    ]

    static func run() throws {
        let folder = NSTemporaryDirectory() + "kdbench-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        print("Fashion-MNIST train (60,000 images of 28x28x1) from Debian's gzipped IDX files; median of 3 (the contiguous import goes through a chunked copy).\n")
        print(row(["layout", "import s", "MiB on disk", "random batches of 128 /s", "images/s"]))
        print(row(["---", "---:", "---:", "---:", "---:"]))
        var generator = SeededGenerator(seed: 1)
        let batches = (0..<100).map { _ in (0..<128).map { _ in Int(generator.next() % 60_000) } }
        for (name, options) in layouts {
            let path = "\(folder)/train-\(name.hashValue).h5"
            let importTime = try medianSeconds(repeats: 3) {
                if let options {
                    try importIDX(images: "\(source)/train-images-idx3-ubyte.gz", labels: "\(source)/train-labels-idx1-ubyte.gz",
                                  classNames: ClassNames.fashionMNIST, to: path, options: options)
                } else {
                    try writeContiguous(to: path)
                }
            }
            let bytes = try HDF5File.open(path).info("images").storedBytes
            let packed = try PackedImageSource(path: path)
            let readTime = try medianSeconds(repeats: 3) {
                for batch in batches { _ = try packed.batch(batch) }
            }
            let perSecond = Double(batches.count) / readTime
            print(row([name, String(format: "%.2f", importTime), String(format: "%.1f", Double(bytes) / 1_048_576),
                       String(format: "%.0f", perSecond), String(format: "%.0f", perSecond * 128)]))
        }

        let pngRoot = "\(folder)/png"
        let test = "\(folder)/test.h5"
        try importIDX(images: "\(source)/t10k-images-idx3-ubyte.gz", labels: "\(source)/t10k-labels-idx1-ubyte.gz",
                      classNames: ClassNames.fashionMNIST, to: test)
        try exportPNG(try PackedImageSource(path: test), to: pngRoot)
        print("\nPNG folder of the 10,000 test images (written by export-png), decoded in batches of 256; median of 5.\n")
        print(row(["threads", "images/s", "µs per image"]))
        print(row(["---", "---:", "---:"]))
        for threads in [1, 2] {
            let images = try PNGFolderSource(root: pngRoot, threads: threads)
            let time = try medianSeconds(repeats: 5) {
                for start in stride(from: 0, to: images.count, by: 256) {
                    _ = try images.batch(start..<min(images.count, start + 256))
                }
            }
            print(row(["\(threads)", String(format: "%.0f", Double(images.count) / time),
                       String(format: "%.1f", time / Double(images.count) * 1e6)]))
        }
    }

    /// The same file as the importer writes, but with contiguous images (for comparison only).
    static func writeContiguous(to path: String) throws {
        let reference = path + ".chunked.h5"
        try importIDX(images: "\(source)/train-images-idx3-ubyte.gz", labels: "\(source)/train-labels-idx1-ubyte.gz",
                      classNames: ClassNames.fashionMNIST, to: reference)
        let chunked = try HDF5File.open(reference)
        let images = try chunked.dataset("images", as: UInt8.self)
        let file = try HDF5File.create(path)
        try file.createDataset("images", values: try images.read(), shape: try images.shape)
        try file.createDataset("labels", values: try chunked.dataset("labels", as: Int32.self).read(), shape: [60_000])
        try file.setAttribute("classes", ClassNames.fashionMNIST)
        try FileManager.default.removeItem(atPath: reference)
    }
}
