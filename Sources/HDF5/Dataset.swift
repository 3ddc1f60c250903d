// Typed datasets: create, open, and read or write whole arrays, ranges of rows and lists of rows.
// A "row" is one index along the first dimension: rows of `images [N,H,W,C]` are images.
internal import CHDF5

/// An open dataset whose elements are read and written as `Element`. Stored and memory types may
/// differ within a kind (a `uint8` dataset may be read as `Int32`; libhdf5 converts), but not
/// across kinds (integers are never read as floats or the other way round).
public final class Dataset<Element: HDF5Element>: HDF5Object {
    /// The element type stored in the file.
    public let storedType: ElementType

    init(handle: Handle, filePath: String, path: String, storedType: ElementType) {
        self.storedType = storedType
        super.init(handle: handle, filePath: filePath, path: path)
    }

    /// The current extent, one entry per dimension (empty for a scalar).
    public var shape: [Int] {
        get throws {
            let space = try hdf5(location, "reading the dataspace") { H5Dget_space(handle.id) }
            defer { H5Sclose(space) }
            return try dimensions(of: space, location)
        }
    }

    /// The number of rows (first dimension).
    public var rowCount: Int {
        get throws { try shape.first ?? 1 }
    }

    /// Elements per row: the product of all dimensions but the first.
    public var rowLength: Int {
        get throws { try shape.dropFirst().reduce(1, *) }
    }

    /// Reads the whole dataset in row-major order.
    public func read() throws -> [Element] {
        let count = try shape.reduce(1, *)
        return try [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = try Element.elementType.withType { type in
                try hdf5(location, "reading") {
                    H5Dread(handle.id, type, kd_H5S_ALL(), kd_H5S_ALL(), kd_H5P_DEFAULT(), buffer.baseAddress)
                }
            }
            initialized = count
        }
    }

    /// Reads rows `rows` (a range of the first dimension).
    public func read(rows: Range<Int>) throws -> [Element] {
        let count = try rows.count * rowLength
        return try [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(rows: rows, into: buffer)
            initialized = count
        }
    }

    /// Reads rows `rows` into `buffer`, which holds at least `rows.count * rowLength` elements.
    public func read(rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Element>) throws {
        let shape = try self.shape
        try checkRows(rows, shape: shape, operation: "reading")
        let rowLength = shape.dropFirst().reduce(1, *)
        precondition(buffer.count >= rows.count * rowLength, "buffer too small for \(rows.count) rows")
        guard !rows.isEmpty else { return }
        try transfer(rows: rows, shape: shape, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: false)
    }

    /// Reads the listed rows, in the order given (consecutive runs are read together).
    public func read(rowIndices: [Int]) throws -> [Element] {
        let count = try rowIndices.count * rowLength
        return try [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(rowIndices: rowIndices, into: buffer)
            initialized = count
        }
    }

    /// Reads the listed rows into `buffer`, row `k` of the result from row `rowIndices[k]`.
    public func read(rowIndices: [Int], into buffer: UnsafeMutableBufferPointer<Element>) throws {
        let rowLength = try self.rowLength
        precondition(buffer.count >= rowIndices.count * rowLength, "buffer too small for \(rowIndices.count) rows")
        try transfer(rowIndices: rowIndices, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: false)
    }

    /// Writes whole rows to the listed rows: row `k` of `values` goes to row `rowIndices[k]`.
    public func write(_ values: [Element], rowIndices: [Int]) throws {
        let rowLength = try self.rowLength
        guard values.count == rowIndices.count * rowLength else {
            throw location.error("writing \(values.count) values into \(rowIndices.count) rows of \(rowLength)")
        }
        var copy = values
        try copy.withUnsafeMutableBufferPointer { buffer in
            try transfer(rowIndices: rowIndices, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: true)
        }
    }

    /// Moves listed rows between the file and dense memory, one transfer per run of consecutive rows.
    private func transfer(rowIndices: [Int], pointer: UnsafeMutableRawPointer, write: Bool) throws {
        let shape = try self.shape
        let rowBytes = shape.dropFirst().reduce(1, *) * MemoryLayout<Element>.stride
        var start = 0
        while start < rowIndices.count {
            var end = start + 1
            while end < rowIndices.count && rowIndices[end] == rowIndices[end - 1] + 1 { end += 1 }
            let rows = rowIndices[start]..<(rowIndices[start] + end - start)
            try checkRows(rows, shape: shape, operation: write ? "writing" : "reading")
            try transfer(rows: rows, shape: shape, pointer: pointer + start * rowBytes, write: write)
            start = end
        }
    }

    /// Writes the whole dataset from `values` in row-major order.
    public func write(_ values: [Element]) throws {
        let count = try shape.reduce(1, *)
        guard values.count == count else {
            throw location.error("writing \(values.count) values into \(count) elements")
        }
        _ = try values.withUnsafeBufferPointer { buffer in
            try Element.elementType.withType { type in
                try hdf5(location, "writing") {
                    H5Dwrite(handle.id, type, kd_H5S_ALL(), kd_H5S_ALL(), kd_H5P_DEFAULT(), buffer.baseAddress)
                }
            }
        }
        try flush()
    }

    /// Writes this dataset's buffered chunks to the file: a write that cannot reach the disk
    /// fails here, at the write, rather than unseen when the handle is let go.
    func flush() throws {
        try hdf5(location, "writing to the file") { H5Dflush(handle.id) }
    }

    /// Writes `values` (whole rows) starting at row `start`, within the current extent.
    public func write<C: Collection>(_ values: C, startingAtRow start: Int) throws where C.Element == Element {
        let shape = try self.shape
        let rowLength = shape.dropFirst().reduce(1, *)
        guard rowLength > 0, values.count % rowLength == 0 else {
            throw location.error("writing \(values.count) values, not a whole number of rows of \(rowLength)")
        }
        let rows = start..<(start + values.count / rowLength)
        try checkRows(rows, shape: shape, operation: "writing")
        guard !rows.isEmpty else { return }
        let written: Void? = try values.withContiguousStorageIfAvailable { buffer in
            try transfer(rows: rows, shape: shape, pointer: UnsafeMutableRawPointer(mutating: buffer.baseAddress!), write: true)
        }
        if written == nil {
            var copy = Array(values)
            try copy.withUnsafeMutableBufferPointer { buffer in
                try transfer(rows: rows, shape: shape, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: true)
            }
        }
    }

    /// Grows (or shrinks) the first dimension of an extendible dataset to `rows`.
    public func resize(rows: Int) throws {
        var dims = try shape.map { hsize_t($0) }
        guard !dims.isEmpty else { throw location.error("a scalar dataset has no rows") }
        dims[0] = hsize_t(rows)
        try hdf5(location, "resizing to \(rows) rows (only extendible datasets grow)") { H5Dset_extent(handle.id, dims) }
    }

    /// Appends whole rows at the end of an extendible dataset.
    public func append<C: Collection>(_ values: C) throws where C.Element == Element {
        let rowLength = try self.rowLength
        guard rowLength > 0, values.count % rowLength == 0 else {
            throw location.error("appending \(values.count) values, not a whole number of rows of \(rowLength)")
        }
        let start = try rowCount
        try resize(rows: start + values.count / rowLength)
        try write(values, startingAtRow: start)
    }

    private func checkRows(_ rows: Range<Int>, shape: [Int], operation: String) throws {
        guard let rowCount = shape.first else { throw location.error("\(operation) rows of a scalar dataset") }
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw location.error("\(operation) rows \(rows.lowerBound)..<\(rows.upperBound) outside 0..<\(rowCount)")
        }
    }

    /// Moves the rows `rows` between the file and `pointer` (dense, row-major).
    private func transfer(rows: Range<Int>, shape: [Int], pointer: UnsafeMutableRawPointer, write: Bool) throws {
        var offset = [Int](repeating: 0, count: shape.count), count = shape
        offset[0] = rows.lowerBound
        count[0] = rows.count
        try transfer(offset: offset, count: count, pointer: pointer, write: write)
    }

    /// Moves the block `offset ..< offset + count` (one entry per dimension) between the file
    /// and `pointer` (dense, row-major).
    private func transfer(offset: [Int], count: [Int], pointer: UnsafeMutableRawPointer, write: Bool) throws {
        let fileSpace = try hdf5(location, "reading the dataspace") { H5Dget_space(handle.id) }
        defer { H5Sclose(fileSpace) }
        let start = offset.map { hsize_t($0) }, extent = count.map { hsize_t($0) }
        try hdf5(location, "selecting a block") {
            H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, extent, nil)
        }
        let memorySpace = try hdf5(location, "making the memory space") { H5Screate_simple(Int32(extent.count), extent, nil) }
        defer { H5Sclose(memorySpace) }
        try Element.elementType.withType { type in
            let what = "\(write ? "writing" : "reading") \(offset)+\(count)"
            try hdf5(location, what) {
                write ? H5Dwrite(handle.id, type, memorySpace, fileSpace, kd_H5P_DEFAULT(), pointer)
                      : H5Dread(handle.id, type, memorySpace, fileSpace, kd_H5P_DEFAULT(), pointer)
            }
        }
        if write { try flush() }
    }

    private func checkBlock(offset: [Int], count: [Int], operation: String) throws {
        let shape = try self.shape
        guard offset.count == shape.count, count.count == shape.count,
              shape.indices.allSatisfy({ offset[$0] >= 0 && count[$0] >= 0 && offset[$0] + count[$0] <= shape[$0] }) else {
            throw location.error("\(operation) block at \(offset) of \(count) outside \(shape)")
        }
    }

    /// Reads the block starting at `offset` with extent `count` (one entry per dimension).
    public func read(offset: [Int], count: [Int]) throws -> [Element] {
        try checkBlock(offset: offset, count: count, operation: "reading")
        let total = count.reduce(1, *)
        return try [Element](unsafeUninitializedCapacity: total) { buffer, initialized in
            if total > 0 { try transfer(offset: offset, count: count, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: false) }
            initialized = total
        }
    }

    /// Reads the block starting at `offset` with extent `count` into `buffer` (at least as large).
    public func read(offset: [Int], count: [Int], into buffer: UnsafeMutableBufferPointer<Element>) throws {
        try checkBlock(offset: offset, count: count, operation: "reading")
        precondition(buffer.count >= count.reduce(1, *), "buffer too small for a block of \(count)")
        guard count.reduce(1, *) > 0 else { return }
        try transfer(offset: offset, count: count, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: false)
    }

    /// Writes `values` (dense, row-major) into the block starting at `offset` with extent `count`.
    public func write(_ values: [Element], offset: [Int], count: [Int]) throws {
        try checkBlock(offset: offset, count: count, operation: "writing")
        guard values.count == count.reduce(1, *) else {
            throw location.error("writing \(values.count) values into a block of \(count)")
        }
        guard !values.isEmpty else { return }
        var copy = values
        try copy.withUnsafeMutableBufferPointer { buffer in
            try transfer(offset: offset, count: count, pointer: UnsafeMutableRawPointer(buffer.baseAddress!), write: true)
        }
    }
}

/// The dimensions of a simple dataspace.
func dimensions(of space: hid_t, _ location: Location) throws -> [Int] {
    let rank = try hdf5(location, "reading the rank") { H5Sget_simple_extent_ndims(space) }
    var dims = [hsize_t](repeating: 0, count: Int(rank))
    try hdf5(location, "reading the extent") { H5Sget_simple_extent_dims(space, &dims, nil) }
    return dims.map { Int($0) }
}

extension Group {
    /// Creates the dataset `name` (intermediate groups included) with the given shape and storage.
    /// For an extendible dataset the first dimension may start at 0 and grow by `append`.
    public func createDataset<Element: HDF5Element>(
        _ name: String, of _: Element.Type = Element.self, shape: [Int], storage: Storage = .contiguous
    ) throws -> Dataset<Element> {
        let location = Location(file: filePath, object: childPath(name))
        if try contains(name) { throw location.error("already exists") }
        let elementType = Element.elementType
        let dims = shape.map { hsize_t($0) }
        var maxDims = dims
        if storage.extendible {
            guard !shape.isEmpty else { throw location.error("a scalar dataset cannot be extendible") }
            maxDims[0] = kd_H5S_UNLIMITED()
        }
        let space = try hdf5(location, "making the dataspace") {
            shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, maxDims)
        }
        defer { H5Sclose(space) }
        let properties = try hdf5(location, "making creation properties") { H5Pcreate(kd_H5P_DATASET_CREATE()) }
        defer { H5Pclose(properties) }
        if let chunk = storage.chunkShape(for: shape, elementSize: elementType.byteCount) {
            guard chunk.count == shape.count else {
                throw location.error("chunk shape \(chunk) does not match the rank of shape \(shape)")
            }
            try hdf5(location, "setting chunks \(chunk)") {
                H5Pset_chunk(properties, Int32(chunk.count), chunk.map { hsize_t($0) })
            }
            if storage.shuffle { try hdf5(location, "adding the shuffle filter") { H5Pset_shuffle(properties) } }
            if storage.allocateEarly {
                try hdf5(location, "allocating early") { H5Pset_alloc_time(properties, H5D_ALLOC_TIME_EARLY) }
                try hdf5(location, "skipping fill values") { H5Pset_fill_time(properties, H5D_FILL_TIME_NEVER) }
            }
            if let level = storage.gzip {
                guard (0...9).contains(level) else { throw location.error("gzip level \(level) is not 0-9") }
                try hdf5(location, "adding the gzip filter") { H5Pset_deflate(properties, UInt32(level)) }
            }
        }
        let id = try withIntermediateGroups(location) { links in
            try elementType.withType { type in
                try hdf5(location, "creating the dataset") {
                    H5Dcreate2(handle.id, name, type, space, links, properties, kd_H5P_DEFAULT())
                }
            }
        }
        return Dataset(handle: Handle(id, close: H5Dclose), filePath: filePath, path: location.object!, storedType: elementType)
    }

    /// Creates a dataset holding `values` with the given shape.
    @discardableResult
    public func createDataset<Element: HDF5Element>(
        _ name: String, values: [Element], shape: [Int], storage: Storage = .contiguous
    ) throws -> Dataset<Element> {
        let dataset = try createDataset(name, of: Element.self, shape: shape, storage: storage)
        try dataset.write(values)
        return dataset
    }

    /// Opens the dataset `name` to be read as `Element`. `rank`, when given, is checked.
    /// `chunkCacheBytes` sizes the chunk cache, which matters for random reads of compressed data.
    public func dataset<Element: HDF5Element>(
        _ name: String, as _: Element.Type = Element.self, rank: Int? = nil, chunkCacheBytes: Int = 32 << 20
    ) throws -> Dataset<Element> {
        let location = Location(file: filePath, object: childPath(name))
        guard try contains(name) else { throw location.error("no such dataset") }
        guard try !isGroup(name) else { throw location.error("is a group, not a dataset") }
        let access = try hdf5(location, "making access properties") { H5Pcreate(kd_H5P_DATASET_ACCESS()) }
        defer { H5Pclose(access) }
        try hdf5(location, "sizing the chunk cache") { H5Pset_chunk_cache(access, 12_421, chunkCacheBytes, 0.75) }
        let id = try hdf5(location, "opening the dataset") { H5Dopen2(handle.id, name, access) }
        let datasetHandle = Handle(id, close: H5Dclose)
        let type = try hdf5(location, "reading the type") { H5Dget_type(id) }
        defer { H5Tclose(type) }
        guard let stored = ElementType(hdf5Type: type) else {
            throw location.error("holds \(describeType(type)), which cannot be read as \(Element.elementType.rawValue)")
        }
        guard stored.isFloat == Element.elementType.isFloat else {
            throw location.error("holds \(stored.rawValue), expected \(Element.elementType.isFloat ? "floating-point" : "integer") data (\(Element.elementType.rawValue))")
        }
        let dataset = Dataset<Element>(handle: datasetHandle, filePath: filePath, path: location.object!, storedType: stored)
        if let rank {
            let shape = try dataset.shape
            guard shape.count == rank else {
                throw location.error("has shape \(shape) (rank \(shape.count)), expected rank \(rank)")
            }
        }
        return dataset
    }
}
