// Writing and reading back every element type, storage choice, attribute kind and row access.
import Foundation
import HDF5
import Testing
import TestSupport

/// Values of every element type that survive the round trip exactly.
private func sampleValues<T: HDF5Element & Numeric>(_: T.Type, count: Int) -> [T] where T: ExpressibleByIntegerLiteral {
    (0..<count).map { T(exactly: $0 % 100)! }
}

@Suite struct RoundTripTests {
    let folder = TemporaryFolder()

    static let storages: [Storage] = [
        .contiguous,
        .rows(3),
        .rows(4, shuffle: true, gzip: 4),
        Storage(chunking: .shape([2, 2, 5]), gzip: 1),
        .rows(5, extendible: true),
    ]

    func roundTrip<T: HDF5Element & Equatable>(_ values: [T], storage: Storage) throws {
        let path = folder.file("\(T.self)-\(UUID().uuidString).h5")
        let shape = [values.count / 10, 2, 5]
        let file = try HDF5File.create(path)
        try file.createDataset("data", values: values, shape: shape, storage: storage)
        let reopened = try HDF5File.open(path)
        let dataset = try reopened.dataset("data", as: T.self)
        #expect(try dataset.shape == shape)
        #expect(dataset.storedType == T.elementType)
        #expect(try dataset.read() == values)
        #expect(try dataset.read(rows: 2..<4) == Array(values[20..<40]))
        _ = file
    }

    @Test(arguments: storages)
    func everyElementType(storage: Storage) throws {
        try roundTrip((0..<60).map { UInt8($0 * 4) }, storage: storage)
        try roundTrip((0..<60).map { Int8($0 - 30) }, storage: storage)
        try roundTrip((0..<60).map { UInt16($0 * 1000) }, storage: storage)
        try roundTrip((0..<60).map { Int16($0 * -500) }, storage: storage)
        try roundTrip((0..<60).map { UInt32($0) * 70_000 }, storage: storage)
        try roundTrip((0..<60).map { Int32($0) * -70_000 }, storage: storage)
        try roundTrip((0..<60).map { UInt64($0) << 40 }, storage: storage)
        try roundTrip((0..<60).map { Int64($0) * -(1 << 40) }, storage: storage)
        try roundTrip((0..<60).map { Float16(Float($0) / 8 - 3) }, storage: storage)
        try roundTrip((0..<60).map { Float($0) * 0.37 - 5 }, storage: storage)
        try roundTrip((0..<60).map { Double($0) * 1e-7 + 1e10 }, storage: storage)
    }

    @Test func halfPrecisionIsIEEEBinary16() throws {
        let path = folder.file("half.h5")
        let values: [Float16] = [0, 1, -2.5, 65504, 6.1e-5, .infinity, -0.0, 1e-7]
        try HDF5File.create(path).createDataset("h", values: values, shape: [values.count])
        let file = try HDF5File.open(path)
        #expect(try file.info("h").typeName == "float16")
        #expect(try file.info("h").elementSize == 2)
        let back = try file.dataset("h", as: Float16.self).read()
        #expect(back.map(\.bitPattern) == values.map(\.bitPattern))
        // Read as float32, libhdf5 converts.
        #expect(try file.dataset("h", as: Float.self).read() == values.map(Float.init))
    }

    @Test func narrowIntegersReadAsWiderOnes() throws {
        let path = folder.file("labels.h5")
        try HDF5File.create(path).createDataset("labels", values: [UInt8(0), 9, 255], shape: [3])
        #expect(try HDF5File.open(path).dataset("labels", as: Int32.self).read() == [0, 9, 255])
    }

    @Test func appendsRowsToAnExtendibleDataset() throws {
        let path = folder.file("append.h5")
        let file = try HDF5File.create(path)
        let dataset = try file.createDataset("rows", of: Float.self, shape: [0, 3], storage: .rows(4, gzip: 1, extendible: true))
        try dataset.append([1, 2, 3] as [Float])
        try dataset.append((4...12).map(Float.init))
        #expect(try dataset.shape == [4, 3])
        let reopened = try HDF5File.open(path).dataset("rows", as: Float.self)
        #expect(try reopened.read() == (1...12).map(Float.init))
        #expect(try HDF5File.open(path).info("rows").maxShape == [nil, 3])
        _ = file
    }

    @Test func readsScatteredRowsInTheOrderGiven() throws {
        let path = folder.file("rows.h5")
        let values = (0..<200).map { Int32($0) }
        try HDF5File.create(path).createDataset("x", values: values, shape: [100, 2], storage: .rows(8, gzip: 2))
        let dataset = try HDF5File.open(path).dataset("x", as: Int32.self)
        let rows = [57, 3, 4, 5, 99, 0, 57, 12, 13]
        let expected = rows.flatMap { [Int32($0 * 2), Int32($0 * 2 + 1)] }
        #expect(try dataset.read(rowIndices: rows) == expected)
        #expect(try dataset.read(rowIndices: []) == [])
    }

    @Test func writesRowsInPlace() throws {
        let path = folder.file("inplace.h5")
        let file = try HDF5File.create(path)
        let dataset = try file.createDataset("x", of: Int64.self, shape: [4, 2], storage: .rows(2))
        try dataset.write([Int64](repeating: 0, count: 8))
        try dataset.write([7, 8] as [Int64], startingAtRow: 2)
        #expect(try dataset.read() == [0, 0, 0, 0, 7, 8, 0, 0])
        #expect(throws: HDF5Error.self) { try dataset.write([1, 2, 3, 4] as [Int64], startingAtRow: 3) }
        try dataset.write([1, 1, 3, 3, 4, 4], rowIndices: [1, 3, 0])
        #expect(try dataset.read() == [4, 4, 1, 1, 7, 8, 3, 3])
        #expect(throws: HDF5Error.self) { try dataset.write([9, 9] as [Int64], rowIndices: [4]) }
    }

    @Test func attributesOfEveryKindOnEveryObject() throws {
        let path = folder.file("attributes.h5")
        let file = try HDF5File.create(path)
        let group = try file.createGroup("features/layer1")
        let dataset = try file.createDataset("logits", values: [Float(1)], shape: [1])
        let values: [(String, AttributeValue)] = [
            ("text", .string("héllo, wörld")), ("list", .strings(["a", "", "c d"])), ("integer", .int(-42)),
            ("integers", .ints([1, 2, Int64.max])), ("real", .double(0.1)), ("reals", .doubles([1.5, -2, 1e-30])),
        ]
        for object in [file as HDF5Object, group, dataset] {
            for (name, value) in values { try object.setAttribute(name, value) }
            try object.setAttribute("text", "replaced")
        }
        let reopened = try HDF5File.open(path)
        for object in [reopened as HDF5Object, try reopened.group("features/layer1"), try reopened.dataset("logits", as: Float.self)] {
            #expect(try object.attribute("text") == .string("replaced"))
            for (name, value) in values.dropFirst() { #expect(try object.attribute(name) == value) }
            #expect(Set(try object.attributeNames()) == Set(values.map(\.0)))
        }
        #expect(try reopened.group("features").childNames() == ["layer1"])
    }

    @Test func infoReportsChunksFiltersAndBytes() throws {
        let path = folder.file("info.h5")
        let file = try HDF5File.create(path)
        try file.createDataset("z", values: [Float](repeating: 0, count: 10_000), shape: [100, 100],
                               storage: .rows(10, shuffle: true, gzip: 6))
        try file.createDataset("c", values: [UInt8](repeating: 1, count: 64), shape: [8, 8])
        let z = try file.info("z")
        #expect(z.chunks == [10, 100])
        #expect(z.filters == ["shuffle", "gzip(6)"])
        #expect(z.logicalBytes == 40_000)
        #expect(z.storedBytes > 0 && z.storedBytes < 4_000)
        let c = try file.info("c")
        #expect(c.chunks == nil && c.filters.isEmpty && c.storedBytes == 64)
        let paths = try file.walk().map(\.path)
        #expect(paths == ["/", "/c", "/z"])
    }
}
