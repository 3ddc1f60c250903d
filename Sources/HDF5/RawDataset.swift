// Datasets handled as bytes in their stored type, whatever it is: for copying a dataset into
// another file unchanged (float16 stays float16) and as the template of a virtual dataset.
internal import CHDF5

/// An open dataset read and written as raw bytes of its stored element type (no conversion).
public final class RawDataset: HDF5Object {
    /// The current extent, one entry per dimension.
    public let shape: [Int]
    /// Bytes per element.
    public let elementSize: Int

    private init(handle: Handle, filePath: String, path: String, shape: [Int], elementSize: Int) {
        self.shape = shape
        self.elementSize = elementSize
        super.init(handle: handle, filePath: filePath, path: path)
    }

    /// The dataset behind an open `handle`, its extent and element size read once.
    static func opened(_ handle: Handle, filePath: String, path: String) throws -> RawDataset {
        let location = Location(file: filePath, object: path)
        let space = try hdf5(location, "reading the dataspace") { H5Dget_space(handle.id) }
        defer { H5Sclose(space) }
        let type = try hdf5(location, "reading the type") { H5Dget_type(handle.id) }
        defer { H5Tclose(type) }
        return RawDataset(handle: handle, filePath: filePath, path: path, shape: try dimensions(of: space, location), elementSize: H5Tget_size(type))
    }

    /// Whether the dataset is virtual (its elements live in datasets of other files).
    public var isVirtual: Bool {
        get throws {
            let properties = try hdf5(location, "reading creation properties") { H5Dget_create_plist(handle.id) }
            defer { H5Pclose(properties) }
            return H5Pget_layout(properties) == H5D_VIRTUAL
        }
    }

    /// The bytes of the block `offset ..< offset + count` (one entry per dimension), row-major.
    public func readBytes(offset: [Int], count: [Int]) throws -> [UInt8] {
        let total = count.reduce(1, *) * elementSize
        return try [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            if total > 0 { try transfer(offset: offset, count: count, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: false) }
            initialized = total
        }
    }

    /// Writes `bytes` (row-major, the stored type) into the block `offset ..< offset + count`.
    public func writeBytes(_ bytes: [UInt8], offset: [Int], count: [Int]) throws {
        guard bytes.count == count.reduce(1, *) * elementSize else {
            throw location.error("writing \(bytes.count) bytes into a block of \(count) elements of \(elementSize) bytes")
        }
        guard !bytes.isEmpty else { return }
        var copy = bytes
        try copy.withUnsafeMutableBytes { buffer in
            try transfer(offset: offset, count: count, pointer: buffer.baseAddress!, write: true)
        }
        try hdf5(location, "writing to the file") { H5Dflush(handle.id) }
    }

    private func transfer(offset: [Int], count: [Int], pointer: UnsafeMutableRawPointer, write: Bool) throws {
        guard offset.count == shape.count, count.count == shape.count,
              shape.indices.allSatisfy({ offset[$0] >= 0 && count[$0] >= 0 && offset[$0] + count[$0] <= shape[$0] }) else {
            throw location.error("\(write ? "writing" : "reading") block at \(offset) of \(count) outside \(shape)")
        }
        let fileSpace = try hdf5(location, "reading the dataspace") { H5Dget_space(handle.id) }
        defer { H5Sclose(fileSpace) }
        let extent = count.map { hsize_t($0) }
        try hdf5(location, "selecting a block") { H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, offset.map { hsize_t($0) }, nil, extent, nil) }
        let memorySpace = try hdf5(location, "making the memory space") { H5Screate_simple(Int32(extent.count), extent, nil) }
        defer { H5Sclose(memorySpace) }
        let type = try hdf5(location, "reading the type") { H5Dget_type(handle.id) }
        defer { H5Tclose(type) }
        try hdf5(location, "\(write ? "writing" : "reading") \(offset)+\(count)") {
            write ? H5Dwrite(handle.id, type, memorySpace, fileSpace, kd_H5P_DEFAULT(), pointer)
                  : H5Dread(handle.id, type, memorySpace, fileSpace, kd_H5P_DEFAULT(), pointer)
        }
    }
}

/// One block of a virtual dataset: the block `offset`/`count` of the virtual dataset is the whole
/// of (or the block `sourceOffset`/`count` of) dataset `dataset`, of shape `sourceShape`, in `file`.
public struct VirtualMapping: Sendable {
    /// The source file: relative paths are resolved from the folder of the virtual dataset's file
    /// (so the two can move together), absolute ones as they are.
    public var file: String
    /// The source dataset's path in its file.
    public var dataset: String
    /// The source dataset's extent.
    public var sourceShape: [Int]
    /// Where the block starts in the source (nil: at the origin).
    public var sourceOffset: [Int]?
    /// Where the block starts in the virtual dataset.
    public var offset: [Int]
    /// The block's extent, the same in both.
    public var count: [Int]

    /// A mapping of a block of `count` elements from `file`:`dataset` to `offset` of the virtual dataset.
    public init(file: String, dataset: String, sourceShape: [Int], sourceOffset: [Int]? = nil, offset: [Int], count: [Int]) {
        (self.file, self.dataset, self.sourceShape, self.sourceOffset, self.offset, self.count) = (file, dataset, sourceShape, sourceOffset, offset, count)
    }
}

extension Group {
    /// Opens the dataset `name` to be handled as bytes of its stored type.
    public func rawDataset(_ name: String) throws -> RawDataset {
        let location = Location(file: filePath, object: childPath(name))
        guard try contains(name) else { throw location.error("no such dataset") }
        let id = try hdf5(location, "opening the dataset") { H5Dopen2(handle.id, name, kd_H5P_DEFAULT()) }
        return try RawDataset.opened(Handle(id, close: H5Dclose), filePath: filePath, path: location.object!)
    }

    /// Creates the dataset `name` with the element type of `template` (any file), `shape` and `storage`.
    public func createDataset(_ name: String, typeOf template: RawDataset, shape: [Int], storage: Storage = .contiguous) throws -> RawDataset {
        let location = Location(file: filePath, object: childPath(name))
        let properties = try hdf5(location, "making creation properties") { H5Pcreate(kd_H5P_DATASET_CREATE()) }
        defer { H5Pclose(properties) }
        if let chunk = storage.chunkShape(for: shape, elementSize: template.elementSize) {
            try hdf5(location, "setting chunks \(chunk)") { H5Pset_chunk(properties, Int32(chunk.count), chunk.map { hsize_t($0) }) }
            if storage.shuffle { try hdf5(location, "adding the shuffle filter") { H5Pset_shuffle(properties) } }
            if let level = storage.gzip { try hdf5(location, "adding the gzip filter") { H5Pset_deflate(properties, UInt32(level)) } }
        }
        return try create(name, typeOf: template, shape: shape, properties: properties, location)
    }

    /// Creates the virtual dataset `name` of `shape` with the element type of `template`, each block
    /// of it read from another file's dataset as `mappings` say (blocks not mapped read as 0).
    public func createVirtualDataset(_ name: String, typeOf template: RawDataset, shape: [Int], mappings: [VirtualMapping]) throws -> RawDataset {
        let location = Location(file: filePath, object: childPath(name))
        let properties = try hdf5(location, "making creation properties") { H5Pcreate(kd_H5P_DATASET_CREATE()) }
        defer { H5Pclose(properties) }
        for mapping in mappings {
            let what = "mapping \(mapping.file):\(mapping.dataset) to \(mapping.offset)+\(mapping.count)"
            let virtual = try hdf5(location, "\(what): making the dataspace") { H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil) }
            defer { H5Sclose(virtual) }
            try hdf5(location, "\(what): selecting") {
                H5Sselect_hyperslab(virtual, H5S_SELECT_SET, mapping.offset.map { hsize_t($0) }, nil, mapping.count.map { hsize_t($0) }, nil)
            }
            let source = try hdf5(location, "\(what): making the source dataspace") {
                H5Screate_simple(Int32(mapping.sourceShape.count), mapping.sourceShape.map { hsize_t($0) }, nil)
            }
            defer { H5Sclose(source) }
            try hdf5(location, "\(what): selecting in the source") {
                mapping.sourceOffset.map { H5Sselect_hyperslab(source, H5S_SELECT_SET, $0.map { hsize_t($0) }, nil, mapping.count.map { hsize_t($0) }, nil) }
                    ?? H5Sselect_all(source)
            }
            try hdf5(location, what) { H5Pset_virtual(properties, virtual, mapping.file, mapping.dataset, source) }
        }
        return try create(name, typeOf: template, shape: shape, properties: properties, location)
    }

    private func create(_ name: String, typeOf template: RawDataset, shape: [Int], properties: hid_t, _ location: Location) throws -> RawDataset {
        if try contains(name) { throw location.error("already exists") }
        let space = try hdf5(location, "making the dataspace") {
            shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), shape.map { hsize_t($0) }, nil)
        }
        defer { H5Sclose(space) }
        let type = try hdf5(template.location, "reading the type") { H5Dget_type(template.handle.id) }
        defer { H5Tclose(type) }
        let id = try withIntermediateGroups(location) { links in
            try hdf5(location, "creating the dataset") { H5Dcreate2(handle.id, name, type, space, links, properties, kd_H5P_DEFAULT()) }
        }
        return try RawDataset.opened(Handle(id, close: H5Dclose), filePath: filePath, path: location.object!)
    }
}
