// The cache file, the contract between precompute and distill (../shared/DESIGN.md): plain HDF5
// datasets with shapes [V, N, ...] (V views of N images), chunked along N, allocated whole at
// creation so that filling it writes raw data only, and a `progress` dataset marking finished batches.
import Foundation
import HDF5
import NN
import Tensor

/// The shapes of everything a cache holds, derived from the settings and one teacher pass.
struct CacheLayout {
    var count: Int
    var views: Int
    var imageShape: [Int]            // [H, W, C]
    var classes: Int
    var batchSize: Int
    /// Per cached dataset: its path, the shape of one row (one image in one view), and its type.
    var groups: [(path: String, row: [Int], type: ElementType)]

    var batchesPerView: Int { (count + batchSize - 1) / batchSize }
    var totalBatches: Int { views * batchesPerView }

    /// Rows of batch `index` (within its view) and the view.
    func batch(_ index: Int) -> (view: Int, rows: Range<Int>) {
        let view = index / batchesPerView, first = (index % batchesPerView) * batchSize
        return (view, first..<Swift.min(count, first + batchSize))
    }
}

/// Dataset paths of the groups, in the order `TeacherOutputs` fills them.
func cacheLayout(runner: TeacherRunner, settings: CacheConfig, count: Int, imageShape: [Int], classes: Int) -> CacheLayout {
    let (h, w, c) = (imageShape[0], imageShape[1], imageShape[2])
    let probe = GradMode.withoutGrad { runner.model.forward(Tensor.zeros([1, c, h, w]), upto: nil) }
    var groups: [(String, [Int], ElementType)] = []
    if settings.topK > 0 {
        groups += [("logits_topk/values", [settings.topK], .float32), ("logits_topk/indices", [settings.topK], .int32)]
    } else {
        groups.append(("logits", [classes], .float32))
    }
    for (name, stage) in zip(settings.features, runner.featureStages) {
        groups.append(("features/" + name, Array(probe.features[stage].shape.dropFirst()), settings.featuresDtype == "float32" ? .float32 : .float16))
    }
    for (name, stage) in zip(settings.attention?.layers ?? [], runner.attentionStages) {
        let shape = probe.features[stage].shape
        groups.append(("attention/" + name, [shape[2] * shape[3]], .float32))
    }
    for (name, point) in zip(settings.boundary, runner.boundaryPoints) {
        let elements = probe.preActivations[point].count
        groups.append(("boundary/" + name, [(elements + 7) / 8], .uint8))
    }
    if settings.inputGrad {
        groups += [("input_grad", [c, h, w], .float16), ("input_grad_scale", [], .float32)]
    }
    return CacheLayout(count: count, views: settings.views, imageShape: imageShape, classes: classes,
                       batchSize: settings.batchSize, groups: groups)
}

/// An open cache file being filled or read.
final class CacheFile {
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
    static func create(path: String, layout: CacheLayout, settings: CacheConfig, runner: TeacherRunner,
                       labels: [Int32], views: [[View]], attributes: [String: AttributeValue]) throws -> CacheFile {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try HDF5File.write(atomicallyTo: path) { file in
            let (v, n) = (layout.views, layout.count)
            let rowStorage = { (row: [Int]) in
                Storage(chunking: .shape([1, Swift.min(n, settings.chunkRows)] + row), allocateEarly: true)
            }
            try file.createDataset("labels", values: labels, shape: [n])
            _ = try file.createDataset("images", of: UInt8.self, shape: [n] + layout.imageShape,
                                       storage: Storage(chunking: .rows(settings.chunkRows), allocateEarly: true))
            for group in layout.groups {
                let shape = [v, n] + group.row
                let dataset: HDF5Object
                switch group.type {
                case .float16: dataset = try file.createDataset(group.path, of: Float16.self, shape: shape, storage: rowStorage(group.row))
                case .uint8: dataset = try file.createDataset(group.path, of: UInt8.self, shape: shape, storage: rowStorage(group.row))
                case .int32: dataset = try file.createDataset(group.path, of: Int32.self, shape: shape, storage: rowStorage(group.row))
                default: dataset = try file.createDataset(group.path, of: Float.self, shape: shape, storage: rowStorage(group.row))
                }
                try describe(dataset, group.path, settings: settings, runner: runner, layout: layout)
            }
            let padding = settings.augment.cropPadding
            try file.createDataset("views/dy", values: views.flatMap { $0.map { UInt8($0.dy) } }, shape: [v, n])
            try file.createDataset("views/dx", values: views.flatMap { $0.map { UInt8($0.dx) } }, shape: [v, n])
            try file.createDataset("views/flip", values: views.flatMap { $0.map { UInt8($0.flip ? 1 : 0) } }, shape: [v, n])
            try file.group("views").setAttribute("crop_padding", padding)
            try file.group("views").setAttribute("meaning", "view v of image i is the image zero-padded by crop_padding, cropped at (dy, dx), then mirrored if flip; view 0 is the image itself")
            try file.createDataset("skipped", of: UInt8.self, shape: [n], storage: Storage(chunking: .rows(4096), allocateEarly: true))
                .setAttribute("meaning", "1 for images that could not be read (precompute --skip-bad): stored black, to be left out")
            try file.createDataset("progress", values: [UInt8](repeating: 0, count: layout.totalBatches), shape: [layout.totalBatches])
            try file.dataset("progress", as: UInt8.self).setAttribute("meaning", "1 for each finished batch of \(layout.batchSize) images, view by view")
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, value) }
        }
        return try open(path: path, layout: layout, mode: .readWrite)
    }

    /// Attributes that make a dataset explain itself.
    private static func describe(_ dataset: HDF5Object, _ path: String, settings: CacheConfig, runner: TeacherRunner, layout: CacheLayout) throws {
        if path.hasPrefix("attention/"), let attention = settings.attention {
            let name = String(path.dropFirst("attention/".count))
            let stage = runner.attentionStages[attention.layers.firstIndex(of: name)!]
            let (h, w, c) = (layout.imageShape[0], layout.imageShape[1], layout.imageShape[2])
            let shape = GradMode.withoutGrad { runner.model.forward(Tensor.zeros([1, c, h, w]), upto: nil) }.features[stage].shape
            try dataset.setAttribute("height", shape[2])
            try dataset.setAttribute("width", shape[3])
            try dataset.setAttribute("p", attention.p)
            try dataset.setAttribute("mode", attention.mode)
            try dataset.setAttribute("meaning", "F(A) over channels per position, divided by its L2 norm per image")
        } else if path.hasPrefix("boundary/") {
            let name = String(path.dropFirst("boundary/".count))
            let point = runner.boundaryPoints[settings.boundary.firstIndex(of: name)!]
            let (h, w, c) = (layout.imageShape[0], layout.imageShape[1], layout.imageShape[2])
            let shape = GradMode.withoutGrad { runner.model.forward(Tensor.zeros([1, c, h, w]), upto: nil) }.preActivations[point].shape
            try dataset.setAttribute("C", shape[1])
            try dataset.setAttribute("H", shape.count > 2 ? shape[2] : 1)
            try dataset.setAttribute("W", shape.count > 3 ? shape[3] : 1)
            try dataset.setAttribute("meaning", "bit set where the pre-ReLU response is > 0, C*H*W bits per image, most significant bit first (numpy.unpackbits)")
        } else if path == "input_grad" {
            try dataset.setAttribute("meaning", "d(cross-entropy of the image)/d(normalised input), divided by input_grad_scale per image")
        } else if path == "input_grad_scale" {
            try dataset.setAttribute("meaning", "max |input gradient| per image: input_grad * input_grad_scale restores it")
        } else if path.hasPrefix("features/") {
            try dataset.setAttribute("meaning", "the teacher stage's output [C,H,W] per image")
        } else if path == "logits" {
            try dataset.setAttribute("meaning", "the teacher's logits per image (evaluation mode)")
        }
    }

    /// Opens an existing cache.
    static func open(path: String, layout: CacheLayout, mode: HDF5File.Mode) throws -> CacheFile {
        CacheFile(path: path, file: try HDF5File.open(path, mode: mode), layout: layout)
    }

    /// Which batches are finished.
    func finishedBatches() throws -> [Bool] {
        try file.dataset("progress", as: UInt8.self).read().map { $0 != 0 }
    }

    /// Writes one finished batch (and, in view 0, its images and which were unreadable), flushes,
    /// then marks it done.
    func write(batch index: Int, outputs: TeacherOutputs, pixels: [UInt8]?, skipped: Set<Int>) throws {
        let (view, rows) = layout.batch(index)
        if let pixels {
            try file.dataset("images", as: UInt8.self).write(pixels, startingAtRow: rows.lowerBound)
            try file.dataset("skipped", as: UInt8.self).write(rows.map { skipped.contains($0) ? 1 : 0 }, startingAtRow: rows.lowerBound)
        }
        var floats = outputs.features.makeIterator(), maps = outputs.attention.makeIterator(), bits = outputs.boundary.makeIterator()
        for group in layout.groups {
            let offset = [view, rows.lowerBound] + group.row.map { _ in 0 }
            let count = [1, rows.count] + group.row
            switch group.path {
            case "logits": try file.dataset(group.path, as: Float.self).write(outputs.logits, offset: offset, count: count)
            case "logits_topk/values": try file.dataset(group.path, as: Float.self).write(outputs.topValues, offset: offset, count: count)
            case "logits_topk/indices": try file.dataset(group.path, as: Int32.self).write(outputs.topIndices, offset: offset, count: count)
            case "input_grad": try file.dataset(group.path, as: Float16.self).write(outputs.inputGrad, offset: offset, count: count)
            case "input_grad_scale": try file.dataset(group.path, as: Float.self).write(outputs.inputGradScale, offset: offset, count: count)
            default:
                if group.path.hasPrefix("features/") {
                    let values = floats.next()!
                    if group.type == .float16 {
                        try file.dataset(group.path, as: Float16.self).write(values.map { Float16($0) }, offset: offset, count: count)
                    } else {
                        try file.dataset(group.path, as: Float.self).write(values, offset: offset, count: count)
                    }
                } else if group.path.hasPrefix("attention/") {
                    try file.dataset(group.path, as: Float.self).write(maps.next()!, offset: offset, count: count)
                } else {
                    try file.dataset(group.path, as: UInt8.self).write(bits.next()!, offset: offset, count: count)
                }
            }
        }
        try file.flush()
        try file.dataset("progress", as: UInt8.self).write([1], startingAtRow: index)
        try file.flush()
    }
}
