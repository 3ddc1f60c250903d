// Describing a file's contents without knowing its element types: shapes, types, storage.
internal import CHDF5

/// What a dataset is and how it is stored, whatever its element type.
public struct DatasetInfo: Sendable, Equatable {
    /// Current extent.
    public var shape: [Int]
    /// Maximum extent; nil entries are unlimited.
    public var maxShape: [Int?]
    /// The element type when it is a plain number, else nil (see `typeName`).
    public var elementType: ElementType?
    /// The type as h5py names it: `uint8`, `float16`, `string`, ...
    public var typeName: String
    /// Bytes per element.
    public var elementSize: Int
    /// Chunk shape, or nil for contiguous storage.
    public var chunks: [Int]?
    /// Filters in pipeline order: `shuffle`, `gzip(4)`, ...
    public var filters: [String]
    /// Bytes the data occupies in the file (0 for a virtual dataset: its data is elsewhere).
    public var storedBytes: Int
    /// For a virtual dataset, the files its blocks come from, in mapping order (empty otherwise).
    public var virtualFiles: [String] = []

    /// Bytes the data would take uncompressed.
    public var logicalBytes: Int { shape.reduce(1, *) * elementSize }
}

/// One object in a file listing.
public struct Entry: Sendable {
    /// A group, or a dataset with its shape, type and storage.
    public enum Kind: Sendable { case group, dataset(DatasetInfo) }
    /// Absolute path inside the file.
    public var path: String
    /// Whether the object is a group or a dataset.
    public var kind: Kind
    /// The object's attributes, in name order.
    public var attributes: [(name: String, value: AttributeValue)]
}

extension Group {
    /// Describes the dataset `name` without choosing an element type.
    public func info(_ name: String) throws -> DatasetInfo {
        let location = Location(file: filePath, object: childPath(name))
        guard try contains(name) else { throw location.error("no such dataset") }
        let id = try hdf5(location, "opening the dataset") { H5Dopen2(handle.id, name, kd_H5P_DEFAULT()) }
        defer { H5Dclose(id) }
        let type = try hdf5(location, "reading the type") { H5Dget_type(id) }
        defer { H5Tclose(type) }
        let space = try hdf5(location, "reading the dataspace") { H5Dget_space(id) }
        defer { H5Sclose(space) }
        let rank = Int(try hdf5(location, "reading the rank") { H5Sget_simple_extent_ndims(space) })
        var dims = [hsize_t](repeating: 0, count: rank)
        var maxDims = [hsize_t](repeating: 0, count: rank)
        try hdf5(location, "reading the extent") { H5Sget_simple_extent_dims(space, &dims, &maxDims) }
        let properties = try hdf5(location, "reading creation properties") { H5Dget_create_plist(id) }
        defer { H5Pclose(properties) }

        var chunks: [Int]?
        if H5Pget_layout(properties) == H5D_CHUNKED {
            var chunk = [hsize_t](repeating: 0, count: rank)
            try hdf5(location, "reading the chunk shape") { H5Pget_chunk(properties, Int32(rank), &chunk) }
            chunks = chunk.map { Int($0) }
        }
        var filters: [String] = []
        let filterCount = try hdf5(location, "counting filters") { H5Pget_nfilters(properties) }
        for index in 0..<filterCount {
            var flags: UInt32 = 0
            var valueCount = 8
            var values = [UInt32](repeating: 0, count: 8)
            var config: UInt32 = 0
            var name = [CChar](repeating: 0, count: 64)
            let filter = H5Pget_filter2(properties, UInt32(index), &flags, &valueCount, &values, 64, &name, &config)
            switch filter {
            case H5Z_FILTER_DEFLATE: filters.append("gzip(\(valueCount > 0 ? values[0] : 0))")
            case H5Z_FILTER_SHUFFLE: filters.append("shuffle")
            case H5Z_FILTER_FLETCHER32: filters.append("fletcher32")
            default: filters.append(String(cString: name).isEmpty ? "filter \(filter)" : String(cString: name))
            }
        }
        var virtualFiles: [String] = []
        if H5Pget_layout(properties) == H5D_VIRTUAL {
            var count = 0
            try hdf5(location, "counting virtual mappings") { H5Pget_virtual_count(properties, &count) }
            for index in 0..<count {
                let length = H5Pget_virtual_filename(properties, index, nil, 0)
                var name = [CChar](repeating: 0, count: Int(max(0, length)) + 1)
                _ = H5Pget_virtual_filename(properties, index, &name, name.count)
                virtualFiles.append(String(cString: name))
            }
        }
        return DatasetInfo(
            shape: dims.map { Int($0) },
            maxShape: maxDims.map { $0 == kd_H5S_UNLIMITED() ? nil : Int($0) },
            elementType: ElementType(hdf5Type: type),
            typeName: describeType(type),
            elementSize: H5Tget_size(type),
            chunks: chunks,
            filters: filters,
            storedBytes: Int(H5Dget_storage_size(id)),
            virtualFiles: virtualFiles)
    }

    /// Every group and dataset below this group, depth first in name order, with attributes.
    /// The first entry is this group itself.
    public func walk() throws -> [Entry] {
        var entries = [Entry(path: path, kind: .group, attributes: try attributes())]
        for name in try childNames() {
            if try isGroup(name) {
                entries += try group(name).walk()
            } else {
                let info = try self.info(name)
                let object = try datasetObject(name)
                entries.append(Entry(path: childPath(name), kind: .dataset(info), attributes: try object.attributes()))
            }
        }
        return entries
    }

    /// Opens a dataset as a plain object, only to read its attributes.
    private func datasetObject(_ name: String) throws -> HDF5Object {
        let location = Location(file: filePath, object: childPath(name))
        let id = try hdf5(location, "opening the dataset") { H5Dopen2(handle.id, name, kd_H5P_DEFAULT()) }
        return HDF5Object(handle: Handle(id, close: H5Dclose), filePath: filePath, path: location.object!)
    }
}
