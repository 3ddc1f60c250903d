// What a cache group is: one kind of teacher output with its HDF5 datasets (`[V, N] + row`), how
// the teacher's pass fills a batch of rows, and how cached rows are checked against recomputed
// ones. Each group lives in its own file under Groups/; how students read one is its own API
// there (logits, features, attention maps, boundary bits, input gradients, embeddings).
import Foundation
import HDF5
import NN
import Tensor

/// Rows of one cached dataset in its stored element type, row after row.
public enum CachedValues: Sendable {
    /// One case per stored element type, holding its values row after row.
    case float32([Float]), float16([Float16]), uint8([UInt8]), uint16([UInt16]), int32([Int32])

    /// The values widened to `Float` (integers converted exactly).
    public var floats: [Float] {
        switch self {
        case .float32(let values): values
        case .float16(let values): [Float](unsafeUninitializedCapacity: values.count) { target, count in
            values.withUnsafeBufferPointer { widenHalves($0, into: target.baseAddress!) }
            count = values.count
        }
        case .uint8(let values): values.map(Float.init)
        case .uint16(let values): values.map(Float.init)
        case .int32(let values): values.map(Float.init)
        }
    }

    /// Writes the values widened to `Float` into `target` (`count` of them), without an
    /// intermediate array: what batch tensors are filled from.
    public func widen(into target: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32(let values): values.withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: $0.count) }
        case .float16(let values): values.withUnsafeBufferPointer { widenHalves($0, into: target) }
        case .uint8(let values): for (i, value) in values.enumerated() { target[i] = Float(value) }
        case .uint16(let values): for (i, value) in values.enumerated() { target[i] = Float(value) }
        case .int32(let values): for (i, value) in values.enumerated() { target[i] = Float(value) }
        }
    }

    /// The number of values.
    public var count: Int {
        switch self {
        case .float32(let values): values.count
        case .float16(let values): values.count
        case .uint8(let values): values.count
        case .uint16(let values): values.count
        case .int32(let values): values.count
        }
    }

    /// The values as integers (for index datasets).
    public var integers: [Int] {
        switch self {
        case .float32(let values): values.map { Int($0) }
        case .float16(let values): values.map { Int(Float($0)) }
        case .uint8(let values): values.map(Int.init)
        case .uint16(let values): values.map(Int.init)
        case .int32(let values): values.map(Int.init)
        }
    }

    /// The bytes of a packed-bit dataset.
    public var bytes: [UInt8] {
        if case .uint8(let values) = self { return values }
        preconditionFailure("bytes of a \(elementType) dataset")
    }

    /// The HDF5 element type the values are stored as.
    public var elementType: ElementType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .uint8: .uint8
        case .uint16: .uint16
        case .int32: .int32
        }
    }
}

/// `source` widened to `Float` into `target`, 8 values per step (one `vcvtph2ps` with F16C, which
/// the release build's `-target-cpu haswell` enables); exact, as every half is a float.
func widenHalves(_ source: UnsafeBufferPointer<Float16>, into target: UnsafeMutablePointer<Float>) {
    guard let base = source.baseAddress else { return }
    let (halves, floats, vectors) = (UnsafeRawPointer(base), UnsafeMutableRawPointer(target), source.count / 8)
    for i in 0..<vectors {
        let eight = halves.loadUnaligned(fromByteOffset: i * 16, as: SIMD8<Float16>.self)
        floats.storeBytes(of: SIMD8<Float>(eight), toByteOffset: i * 32, as: SIMD8<Float>.self)
    }
    for i in (vectors * 8)..<source.count { target[i] = Float(base[i]) }
}

/// One dataset of a group: `[V, N] + row` values of `type`, with attributes that explain it.
public struct CacheDataset: Sendable {
    /// The dataset's path in the cache file (`logits`, `features/layer2`).
    public var path: String
    /// The stored element type.
    public var type: ElementType
    /// The shape of one row after `[V, N]` (`[]` for one value per image).
    public var row: [Int]
    /// Written on the dataset; every group gives at least `meaning`.
    public var attributes: [(String, AttributeValue)]
}

/// One run of the teacher over a batch, from which every group takes its rows.
public struct TeacherPass {
    /// The teacher's layer and pre-activation names, for `feature` and `preActivation`.
    let layerNames: [String]
    let pointNames: [String]
    let output: ModelOutput
    /// `[n, C, H, W]`: d(cross-entropy with the teacher's own predicted class)/d(input), when asked for.
    let inputGradient: Tensor?

    /// The output `[n, C, H, W]` of the teacher's layer `layer` (a name the group checked).
    func feature(_ layer: String) -> Tensor { output.features[layerNames.firstIndex(of: layer)!] }
    /// The pre-ReLU response of point `point`.
    func preActivation(_ point: String) -> Tensor { output.preActivations[pointNames.firstIndex(of: point)!] }
}

/// A kind of teacher output the cache holds.
public protocol CacheGroup: Sendable {
    /// How messages name it (`logits`, `features/conv2`).
    var name: String { get }
    /// Its datasets, in the order `rows(from:)` returns their values.
    var datasets: [CacheDataset] { get }
    /// Whether the teacher's pass must compute its input gradient.
    var needsInputGradient: Bool { get }
    /// The rows of each dataset for one batch of the teacher (evaluation mode).
    func rows(from pass: TeacherPass) -> [CachedValues]
    /// Compares cached rows with the same rows recomputed by the teacher, within a tolerance that
    /// holds across BLAS kernels and machines.
    func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck]
    /// The pipeline option that adds a group of this kind (for messages about a missing one).
    static var option: String { get }
    /// The groups of this kind in `file`, read back from their datasets and attributes.
    static func stored(in file: HDF5File) throws -> [Self]
}

extension CacheGroup {
    /// By default a group needs no input gradient.
    public var needsInputGradient: Bool { false }

    /// The largest difference against the largest magnitude of the recomputed values, within `relative`.
    func compare(_ name: String, _ cached: [Float], _ live: [Float], relative: Double) -> CacheCheck {
        guard cached.count == live.count else {
            return CacheCheck(name: name, detail: "\(cached.count) cached values, \(live.count) recomputed", passed: false)
        }
        let scale = Double(live.map { Swift.abs($0) }.max() ?? 0)
        let difference = Double(zip(cached, live).map { Swift.abs($0 - $1) }.max() ?? 0)
        let score = difference / (relative * Swift.max(scale, 1e-30))
        return CacheCheck(name: name, detail: String(format: "max |cached - live| %.3g (%.2g of max |value| %.3g; limit %.0g)",
                                                     difference, difference / Swift.max(scale, 1e-30), scale, relative),
                          passed: score <= 1, score: score)
    }
}

/// The group that gives the teacher's logits: all of them, or the top k.
public protocol LogitsGroup: CacheGroup {
    /// K, the number of classes.
    var classes: Int { get }
    /// `[n, K]` logits for KD-family losses (up to a constant per row, which softmax ignores).
    func logits(_ rows: [CachedValues], count n: Int) -> Tensor
    /// Each row's class with the largest logit.
    func predictedClasses(_ rows: [CachedValues], count n: Int) -> [Int]
}

/// A cache group a method needs and the cache lacks, with the option that adds it.
public struct MissingGroupError: Error, CustomStringConvertible {
    /// The cache file.
    public let file: String
    /// The missing group's path in the cache (`attention/layer3`).
    public let group: String
    /// The pipeline option that adds the group (`cache.attention.layers`).
    public let option: String
    /// Who needs it (`the kd term of students.kd`).
    public let wantedBy: String

    public var description: String {
        "\(file): \(wantedBy) needs /\(group), which this cache lacks: add it with \(option) and run kd precompute (--force to replace the cache)"
    }
}

/// Creates a `[V, N] + row` dataset of `type` (the one place that turns an element type into a Swift type).
func createDataset(_ file: HDF5File, _ path: String, type: ElementType, shape: [Int], storage: Storage) throws -> HDF5Object {
    switch type {
    case .float32: try file.createDataset(path, of: Float.self, shape: shape, storage: storage)
    case .float16: try file.createDataset(path, of: Float16.self, shape: shape, storage: storage)
    case .uint8: try file.createDataset(path, of: UInt8.self, shape: shape, storage: storage)
    case .uint16: try file.createDataset(path, of: UInt16.self, shape: shape, storage: storage)
    case .int32: try file.createDataset(path, of: Int32.self, shape: shape, storage: storage)
    case .int8, .int16, .uint32, .uint64, .int64, .float64:
        throw HDF5Error(file: file.filePath, object: path, message: "cache groups store float32, float16, uint8, uint16 or int32, not \(type)")
    }
}

/// Reads the block `offset`/`count` of a dataset in its stored type.
func readValues(_ file: HDF5File, _ path: String, type: ElementType, offset: [Int], count: [Int]) throws -> CachedValues {
    switch type {
    case .float32: .float32(try file.dataset(path, as: Float.self).read(offset: offset, count: count))
    case .float16: .float16(try file.dataset(path, as: Float16.self).read(offset: offset, count: count))
    case .uint8: .uint8(try file.dataset(path, as: UInt8.self).read(offset: offset, count: count))
    case .uint16: .uint16(try file.dataset(path, as: UInt16.self).read(offset: offset, count: count))
    case .int32: .int32(try file.dataset(path, as: Int32.self).read(offset: offset, count: count))
    case .int8, .int16, .uint32, .uint64, .int64, .float64:
        throw HDF5Error(file: file.filePath, object: path, message: "cache groups store float32, float16, uint8, uint16 or int32, not \(type)")
    }
}

/// Rows `runs` (each consecutive) of view `view` of `dataset` (`[V, N] + row`), read run by run
/// straight into one array: `[sum of run lengths] + row` values.
func readRuns<T: HDF5Element>(_ dataset: Dataset<T>, view: Int, runs: [Range<Int>], row: [Int]) throws -> [T] {
    let rowLength = row.reduce(1, *), total = runs.reduce(0) { $0 + $1.count } * rowLength
    let zeros = row.map { _ in 0 }
    return try [T](unsafeUninitializedCapacity: total) { buffer, initialized in
        var start = 0
        for run in runs {
            let target = UnsafeMutableBufferPointer(rebasing: buffer[start..<(start + run.count * rowLength)])
            try dataset.read(offset: [view, run.lowerBound] + zeros, count: [1, run.count] + row, into: target)
            start += run.count * rowLength
        }
        initialized = total
    }
}

/// Writes `values` into the block `offset`/`count` of a dataset.
func writeValues(_ file: HDF5File, _ path: String, _ values: CachedValues, offset: [Int], count: [Int]) throws {
    switch values {
    case .float32(let v): try file.dataset(path, as: Float.self).write(v, offset: offset, count: count)
    case .float16(let v): try file.dataset(path, as: Float16.self).write(v, offset: offset, count: count)
    case .uint8(let v): try file.dataset(path, as: UInt8.self).write(v, offset: offset, count: count)
    case .uint16(let v): try file.dataset(path, as: UInt16.self).write(v, offset: offset, count: count)
    case .int32(let v): try file.dataset(path, as: Int32.self).write(v, offset: offset, count: count)
    }
}

/// Concatenates row blocks of one dataset read separately.
func joined(_ parts: [CachedValues]) -> CachedValues {
    guard parts.count > 1, let first = parts.first else { return parts.first ?? .float32([]) }
    func all<T>(_ extract: (CachedValues) -> [T]?) -> [T] { parts.flatMap { extract($0) ?? [] } }
    switch first {
    case .float32: return .float32(all { if case .float32(let v) = $0 { return v } else { return nil } })
    case .float16: return .float16(all { if case .float16(let v) = $0 { return v } else { return nil } })
    case .uint8: return .uint8(all { if case .uint8(let v) = $0 { return v } else { return nil } })
    case .uint16: return .uint16(all { if case .uint16(let v) = $0 { return v } else { return nil } })
    case .int32: return .int32(all { if case .int32(let v) = $0 { return v } else { return nil } })
    }
}
