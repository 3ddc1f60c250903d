// Both kinds of image source: packed HDF5 checks, PNG folders, and the round trip between them.
import Datasets
import Foundation
import HDF5
import ImageIO
import Testing
import TestSupport

@Suite struct SourceTests {
    let folder = TemporaryFolder()

    /// A small packed RGB file: image i has every byte equal to 10*i + channel, label i % 3.
    func packedFile(count: Int = 7, channels: Int = 3, classes: [String] = ["cat", "dog/wolf", "emu"]) throws -> String {
        let path = folder.file("packed-\(UUID().uuidString).h5")
        let writer = try PackedWriter(path: path, count: count, height: 4, width: 5, channels: channels, classNames: classes,
                                      options: PackOptions(chunkRows: 3))
        var pixels: [UInt8] = []
        for index in 0..<count {
            for _ in 0..<20 { for channel in 0..<channels { pixels.append(UInt8(10 * index + channel)) } }
        }
        try writer.append(pixels: pixels, labels: (0..<count).map { Int32($0 % 3) })
        try writer.finish()
        return path
    }

    @Test func packedSourceReadsBatchesInAnyOrder() throws {
        let source = try openImageSource(try packedFile())
        #expect(source.count == 7 && source.shapeDescription == "7x4x5x3")
        let batch = try source.batch([6, 0, 1])
        #expect(batch.labels == [0, 0, 1])
        #expect(batch.image(0).pixels.allSatisfy { $0 == 60 || $0 == 61 || $0 == 62 })
        #expect(batch.image(2)[3, 4, 2] == 12)
    }

    @Test func packedSourceErrorsNameFileAndObject() throws {
        let path = folder.file("broken.h5")
        let file = try HDF5File.create(path)
        try file.createDataset("images", values: [UInt8](repeating: 0, count: 2 * 4 * 4 * 2), shape: [2, 4, 4, 2])
        _ = file
        var error = #expect(throws: DatasetError.self) { _ = try PackedImageSource(path: path) }
        #expect(error?.path == path && error?.message.contains("2 channels") == true)

        let noLabels = folder.file("nolabels.h5")
        try HDF5File.create(noLabels).createDataset("images", values: [UInt8](repeating: 0, count: 16), shape: [1, 4, 4, 1])
        let missing = #expect(throws: HDF5Error.self) { _ = try PackedImageSource(path: noLabels) }
        #expect(missing?.file == noLabels && missing?.object == "/labels")

        let badLabel = folder.file("badlabel.h5")
        let bad = try HDF5File.create(badLabel)
        try bad.createDataset("images", values: [UInt8](repeating: 0, count: 16), shape: [1, 4, 4, 1])
        try bad.createDataset("labels", values: [Int32(4)], shape: [1])
        try bad.setAttribute("classes", ["a", "b"])
        _ = bad
        error = #expect(throws: DatasetError.self) { _ = try PackedImageSource(path: badLabel) }
        #expect(error?.message.contains("label 4 outside 0..<2") == true)

        let floats = folder.file("floats.h5")
        try HDF5File.create(floats).createDataset("images", values: [Float](repeating: 0, count: 16), shape: [1, 4, 4, 1])
        let wrongType = #expect(throws: HDF5Error.self) { _ = try PackedImageSource(path: floats) }
        #expect(wrongType?.object == "/images" && wrongType?.message.contains("float32") == true)
    }

    @Test(arguments: [1, 3])
    func exportToPNGAndReadBack(channels: Int) throws {
        let packed = try packedFile(channels: channels)
        let source = try PackedImageSource(path: packed)
        let root = folder.file("png\(channels)")
        #expect(try exportPNG(source, to: root, threads: 2) == 7)
        try "readme".write(toFile: root + "/README.txt", atomically: true, encoding: .utf8)
        try "x".write(toFile: root + "/cat/notes.txt", atomically: true, encoding: .utf8)

        let folderSource = try PNGFolderSource(root: root, threads: 2)
        // classes.txt keeps the names (a `/` too) and their order; the folders are dog_wolf etc.
        #expect(folderSource.classNames == source.classNames && source.classNames == ["cat", "dog/wolf", "emu"])
        #expect(FileManager.default.fileExists(atPath: root + "/dog_wolf"))
        #expect(folderSource.count == 7 && folderSource.channels == channels)
        #expect(folderSource.skipped.count == 2)
        // Every exported image comes back with its pixels and its class.
        let all = try folderSource.batch(0..<7)
        for slot in 0..<7 {
            let index = Int(URL(fileURLWithPath: folderSource.files[slot]).deletingPathExtension().lastPathComponent)!
            #expect(all.image(slot) == (try source.sample(index).image))
            #expect(all.labels[slot] == source.labels[index], "image \(index) came back with another label")
        }
        // And packs back into HDF5 with the same images in folder order.
        let repacked = folder.file("repacked\(channels).h5")
        try pack(folderSource, to: repacked)
        let again = try PackedImageSource(path: repacked)
        #expect(try again.batch(0..<7).pixels == all.pixels)
        #expect(again.labels == folderSource.labels)
    }

    @Test func pngFolderWithAMismatchedImageNamesIt() throws {
        let root = folder.file("mixed")
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        try PNG.write(Image(width: 4, height: 4, channels: 1), to: root + "/a/0.png")
        try PNG.write(Image(width: 4, height: 4, channels: 1), to: root + "/a/1.png")
        try PNG.write(Image(width: 5, height: 4, channels: 1), to: root + "/a/2.png")
        let error = #expect(throws: DatasetError.self) { _ = try PNGFolderSource(root: root) }
        #expect(error?.path == root + "/a/2.png" && error?.message.contains("5x4") == true)

        try PNG.write(Image(width: 4, height: 4, channels: 3), to: root + "/a/2.png")
        let colour = #expect(throws: DatasetError.self) { _ = try PNGFolderSource(root: root) }
        #expect(colour?.path == root + "/a/2.png" && colour?.message.contains("3 channel") == true)
    }

    @Test func pngFolderWithACorruptImageNamesIt() throws {
        let root = folder.file("corrupt")
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        try PNG.write(Image(width: 4, height: 4, channels: 1), to: root + "/a/0.png")
        let bytes = try PNG.encode(Image(width: 4, height: 4, channels: 1, pixels: (0..<16).map { UInt8($0 * 13) }))
        try Data(bytes.prefix(40)).write(to: URL(fileURLWithPath: root + "/a/1.png"))
        let thrown: Error? = {
            do { _ = try PNGFolderSource(root: root).batch(0..<2); return nil } catch { return error }
        }()
        #expect("\(thrown.map { "\($0)" } ?? "no error")".contains(root + "/a/1.png"))
    }

    @Test func emptyFolderIsAnError() throws {
        let error = #expect(throws: DatasetError.self) { _ = try PNGFolderSource(root: folder.path) }
        #expect(error?.message.contains("no PNG images") == true)
        #expect(throws: DatasetError.self) { _ = try openImageSource(folder.file("absent")) }
    }
}
