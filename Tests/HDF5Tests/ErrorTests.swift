// Bad input gives errors that name the file and the object; atomic files never appear half-written.
import Foundation
import HDF5
import Testing
import TestSupport

@Suite struct ErrorTests {
    let folder = TemporaryFolder()

    /// The error thrown by `body`, as text.
    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    func sampleFile() throws -> String {
        let path = folder.file("sample.h5")
        let file = try HDF5File.create(path)
        try file.createDataset("images", values: [UInt8](repeating: 0, count: 16), shape: [1, 4, 4, 1])
        try file.createDataset("logits", values: [Float](repeating: 0, count: 6), shape: [2, 3])
        try file.createGroup("features")
        return path
    }

    @Test func missingFile() {
        let text = message { _ = try HDF5File.open(folder.file("nowhere.h5")) }
        #expect(text.contains("nowhere.h5") && text.contains("no such file"))
    }

    @Test func notAnHDF5File() throws {
        let path = folder.file("text.h5")
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        let text = message { _ = try HDF5File.open(path) }
        #expect(text.contains("text.h5") && text.contains("not an HDF5 file"))
    }

    @Test func missingDatasetNamesFileAndObject() throws {
        let path = try sampleFile()
        let text = message { _ = try HDF5File.open(path).dataset("attention/layer2", as: Float.self) }
        #expect(text.contains("sample.h5") && text.contains("/attention/layer2") && text.contains("no such dataset"))
    }

    @Test func wrongKindOfElement() throws {
        let path = try sampleFile()
        let text = message { _ = try HDF5File.open(path).dataset("logits", as: UInt8.self) }
        #expect(text.contains("/logits") && text.contains("float32") && text.contains("integer"))
    }

    @Test func wrongRank() throws {
        let path = try sampleFile()
        let text = message { _ = try HDF5File.open(path).dataset("images", as: UInt8.self, rank: 3) }
        #expect(text.contains("/images") && text.contains("rank 3") && text.contains("[1, 4, 4, 1]"))
    }

    @Test func groupIsNotADataset() throws {
        let path = try sampleFile()
        let text = message { _ = try HDF5File.open(path).dataset("features", as: Float.self) }
        #expect(text.contains("/features") && text.contains("is a group"))
    }

    @Test func rowsOutOfRange() throws {
        let path = try sampleFile()
        let dataset = try HDF5File.open(path).dataset("logits", as: Float.self)
        let text = message { _ = try dataset.read(rows: 1..<5) }
        #expect(text.contains("/logits") && text.contains("outside 0..<2"))
        #expect(message { _ = try dataset.read(rowIndices: [0, 2]) }.contains("outside 0..<2"))
    }

    @Test func missingAttribute() throws {
        let path = try sampleFile()
        let text = message { _ = try HDF5File.open(path).attribute("teacher_sha256") }
        #expect(text.contains("sample.h5") && text.contains("teacher_sha256") && text.contains("no such attribute"))
    }

    @Test func writingToAReadOnlyFileCarriesLibraryMessage() throws {
        let path = try sampleFile()
        let text = message { try HDF5File.open(path).createGroup("new") }
        #expect(text.contains("sample.h5") && text.contains("/new") && text.contains("failed"))
    }

    @Test func atomicFileAppearsOnlyOnCommit() throws {
        let path = folder.file("atomic.h5")
        let file = try HDF5File.createAtomically(path)
        try file.createDataset("x", values: [Int32(1)], shape: [1])
        #expect(!FileManager.default.fileExists(atPath: path))
        try file.commit()
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: HDF5File.temporaryPath(for: path)))
        #expect(try HDF5File.open(path).dataset("x", as: Int32.self).read() == [1])
    }

    @Test func failedAtomicWriteLeavesNothing() throws {
        struct Interrupted: Error {}
        let path = folder.file("failed.h5")
        #expect(throws: Interrupted.self) {
            try HDF5File.write(atomicallyTo: path) { file in
                try file.createDataset("x", values: [Int32(1)], shape: [1])
                throw Interrupted()
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: HDF5File.temporaryPath(for: path)))
    }

    @Test func failedAtomicWriteKeepsThePreviousFile() throws {
        let path = folder.file("previous.h5")
        try HDF5File.create(path).createDataset("version", values: [Int32(1)], shape: [1])
        _ = try? HDF5File.write(atomicallyTo: path) { file in
            try file.createDataset("version", values: [Int32(2)], shape: [1])
            _ = try file.dataset("missing", as: Float.self)
        }
        #expect(try HDF5File.open(path).dataset("version", as: Int32.self).read() == [1])
    }
}
