// The cache file, the contract between precompute and distill (../shared/DESIGN.md): plain HDF5
// datasets with shapes [V, N, ...] (V views of N images), chunked along N, allocated whole at
// creation so that filling it writes raw data only, and a `progress` dataset marking finished batches.
import Foundation
import HDF5

/// The shapes of everything a cache holds: images, views, batches and the groups.
struct CacheLayout {
    var count: Int
    var views: Int
    /// `[H, W, C]`.
    var imageShape: [Int]
    var batchSize: Int
    var schema: CacheSchema

    var batchesPerView: Int { (count + batchSize - 1) / batchSize }
    var totalBatches: Int { views * batchesPerView }

    /// Rows of batch `index` (within its view) and the view.
    func batch(_ index: Int) -> (view: Int, rows: Range<Int>) {
        let view = index / batchesPerView, first = (index % batchesPerView) * batchSize
        return (view, first..<Swift.min(count, first + batchSize))
    }
}

/// An open cache file being filled, batch by batch.
final class CacheWriter {
    let path: String
    let file: HDF5File
    let layout: CacheLayout

    private init(path: String, file: HDF5File, layout: CacheLayout) {
        self.path = path
        self.file = file
        self.layout = layout
    }

    /// Creates the whole file (every dataset allocated, views, labels, attributes) under a
    /// temporary name, renames it into place, and opens it for filling.
    static func create(path: String, layout: CacheLayout, chunkRows: Int, cropPadding: Int, labels: [Int32], views: [[View]],
                       attributes: [String: AttributeValue]) throws -> CacheWriter {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try HDF5File.write(atomicallyTo: path) { file in
            let (v, n) = (layout.views, layout.count)
            try file.createDataset("labels", values: labels, shape: [n])
            _ = try file.createDataset("images", of: UInt8.self, shape: [n] + layout.imageShape,
                                       storage: storage(for: "images", shape: [n] + layout.imageShape, chunkRows: chunkRows))
            for group in layout.schema.groups {
                for dataset in group.datasets {
                    let shape = [v, n] + dataset.row
                    let created = try createDataset(file, dataset.path, type: dataset.type, shape: shape,
                                                    storage: storage(for: dataset.path, shape: shape, chunkRows: chunkRows))
                    for (key, value) in dataset.attributes { try created.setAttribute(key, value) }
                }
            }
            try file.createDataset("views/dy", values: views.flatMap { $0.map { UInt8($0.dy) } }, shape: [v, n])
            try file.createDataset("views/dx", values: views.flatMap { $0.map { UInt8($0.dx) } }, shape: [v, n])
            try file.createDataset("views/flip", values: views.flatMap { $0.map { UInt8($0.flip ? 1 : 0) } }, shape: [v, n])
            try file.group("views").setAttribute("crop_padding", cropPadding)
            try file.group("views").setAttribute("meaning", "view v of image i is the image zero-padded by crop_padding, cropped at (dy, dx), then mirrored if flip; view 0 is the image itself")
            try file.createDataset("skipped", of: UInt8.self, shape: [n], storage: storage(for: "skipped", shape: [n], chunkRows: chunkRows))
                .setAttribute("meaning", "1 for images that could not be read (precompute --skip-bad): stored black, to be left out")
            try file.createDataset("progress", values: [UInt8](repeating: 0, count: layout.totalBatches), shape: [layout.totalBatches])
            try file.dataset("progress", as: UInt8.self).setAttribute("meaning", "1 for each finished batch of \(layout.batchSize) images, view by view")
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, value) }
            // The file is allocated whole; its blocks are reserved now, so a disk too small for it
            // is found before any work, and no later write can run out of space.
            try file.reserveSpace()
        }
        return try open(path: path, layout: layout)
    }

    /// How the cache dataset `name` of `shape` is stored: `[V, N, ...]` groups in chunks of one view
    /// and `chunkRows` images, images in chunks of `chunkRows`, the small tables contiguous; all
    /// allocated at creation. `kd cache materialize` lays a joined cache out the same way.
    static func storage(for name: String, shape: [Int], chunkRows: Int) -> Storage {
        switch name {
        case "labels", "progress", "views/dy", "views/dx", "views/flip": .contiguous
        case "images": Storage(chunking: .rows(chunkRows), allocateEarly: true)
        case "skipped": Storage(chunking: .rows(4096), allocateEarly: true)
        default: shape.count < 2 ? .contiguous : Storage(chunking: .shape([1, Swift.min(shape[1], chunkRows)] + shape.dropFirst(2)), allocateEarly: true)
        }
    }

    /// Opens an existing cache for filling.
    static func open(path: String, layout: CacheLayout) throws -> CacheWriter {
        CacheWriter(path: path, file: try HDF5File.open(path, mode: .readWrite), layout: layout)
    }

    /// Which batches are finished.
    func finishedBatches() throws -> [Bool] {
        try file.dataset("progress", as: UInt8.self).read().map { $0 != 0 }
    }

    /// Writes one finished batch (its groups' rows, and in view 0 its images and which were
    /// unreadable), flushes, then marks it done.
    func write(batch index: Int, rows: [[CachedValues]], pixels: [UInt8]?, skipped: Set<Int>) throws {
        let (view, range) = layout.batch(index)
        if let pixels {
            try file.dataset("images", as: UInt8.self).write(pixels, startingAtRow: range.lowerBound)
            try file.dataset("skipped", as: UInt8.self).write(range.map { skipped.contains($0) ? 1 : 0 }, startingAtRow: range.lowerBound)
        }
        for (group, values) in zip(layout.schema.groups, rows) {
            for (dataset, value) in zip(group.datasets, values) {
                try writeValues(file, dataset.path, value, offset: [view, range.lowerBound] + dataset.row.map { _ in 0 },
                                count: [1, range.count] + dataset.row)
            }
        }
        try file.flush()
        try file.dataset("progress", as: UInt8.self).write([1], startingAtRow: index)
        try file.flush()
    }
}
