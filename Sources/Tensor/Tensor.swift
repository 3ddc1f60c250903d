// The tensor: a dense row-major array of Float or Double with a shape, and its place in the
// autodiff graph. Layout for images is NCHW (N = batch, C = channels, H = rows, W = columns).
//
// The layout rule: a float32 `[N,C,H,W]` tensor whose C is a multiple of oneDNN's channel block
// may hold its values in that blocked layout instead of (or beside) row-major (BlockedLayout.swift).
// Only the ops that know the layout read or write it: oneDNN convolutions (their results stay
// blocked), training-mode batch norm, attention maps (`channelPowerSum(2)` and its gradient), and
// elementwise ops whose full-size operands hold it (the other operand may be one value or one per
// channel, as a bias or an evaluation-mode batch norm).
// Every other op, a checkpoint, the cache and every test read through `pointer`, which reorders to
// row-major on first use and keeps that copy. Writing in place (`update`, filling a fresh tensor)
// drops the blocked copy; in-place writes go to parameters, statistics and optimiser state, which
// are never blocked. So activations are blocked from one oneDNN convolution to the next, and
// everything else sees row-major.
import Foundation

/// A dense, row-major array of `float32` or `float64` values. Tensors are values in practice:
/// ops never modify their inputs; only optimisers update parameters in place.
public final class Tensor: CustomStringConvertible {
    /// The size of each dimension (empty for a scalar).
    public private(set) var shape: [Int]
    /// The element type.
    public private(set) var dtype: DType
    /// The row-major values, or nil while only `blocked` holds them (made on first use of `buffer`).
    private var rowMajor: Buffer?
    /// The values in a channel-blocked layout, when an op wrote them so or asked for them so.
    private(set) var blocked: BlockedValues?
    /// Whether gradients flow to this tensor: set on parameters and inputs to differentiate
    /// with respect to; derived tensors inherit it while gradients are recorded.
    public var requiresGrad: Bool
    /// The op that produced this tensor, when it was recorded for differentiation.
    var node: Node?
    /// The gradient accumulated by `backward()` (leaves only).
    public var grad: Tensor?

    init(shape: [Int], dtype: DType, buffer: Buffer, requiresGrad: Bool = false) {
        self.shape = shape
        self.dtype = dtype
        self.rowMajor = buffer
        self.requiresGrad = requiresGrad
    }

    /// A float32 tensor whose values are only in `blocked` (an op's fresh output, to be filled).
    init(shape: [Int], blocked: BlockedValues) {
        self.shape = shape
        self.dtype = .float32
        self.blocked = blocked
        self.requiresGrad = false
    }

    /// The row-major values, reordered from the blocked copy on first use. Setting it (replacing
    /// the values) drops the blocked copy.
    var buffer: Buffer {
        get {
            if let rowMajor { return rowMajor }
            // Under a lock: kernels' worker threads may read one tensor at once.
            Tensor.reordering.lock()
            defer { Tensor.reordering.unlock() }
            if let rowMajor { return rowMajor }
            let made = blocked!.rowMajor(shape: shape)
            rowMajor = made
            return made
        }
        set {
            rowMajor = newValue
            blocked = nil
        }
    }

    private static let reordering = NSLock()

    /// Whether the values are held only in a blocked layout (no row-major copy made yet).
    var isBlockedOnly: Bool { rowMajor == nil }

    /// Keeps `values` (the same values, blocked) beside the row-major ones, for later ops that want them.
    func keepBlocked(_ values: BlockedValues) {
        precondition(dtype == .float32 && values.buffer.byteCount >= count * 4, "a blocked copy of a \(dtype) tensor \(shape)")
        blocked = values
    }

    /// An uninitialised tensor (kernels fill it).
    convenience init(uninitializedShape shape: [Int], dtype: DType) {
        self.init(shape: shape, dtype: dtype, buffer: Buffer(byteCount: shape.reduce(1, *) * dtype.size))
    }

    /// A `float32` tensor holding `scalars` in row-major order.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        precondition(scalars.count == shape.reduce(1, *), "\(scalars.count) values for shape \(shape)")
        self.init(uninitializedShape: shape, dtype: .float32)
        scalars.withUnsafeBufferPointer { buffer.pointer(Float.self).update(from: $0.baseAddress!, count: $0.count) }
        self.requiresGrad = requiresGrad
    }

    /// A `float64` tensor holding `values` in row-major order.
    public convenience init(shape: [Int], doubles: [Double], requiresGrad: Bool = false) {
        precondition(doubles.count == shape.reduce(1, *), "\(doubles.count) values for shape \(shape)")
        self.init(uninitializedShape: shape, dtype: .float64)
        doubles.withUnsafeBufferPointer { buffer.pointer(Double.self).update(from: $0.baseAddress!, count: $0.count) }
        self.requiresGrad = requiresGrad
    }

    /// A tensor of `shape` filled with `value`.
    public convenience init(repeating value: Double, shape: [Int], dtype: DType = .float32) {
        self.init(uninitializedShape: shape, dtype: dtype)
        let count = self.count
        switch dtype {
        case .float32: buffer.pointer(Float.self).update(repeating: Float(value), count: count)
        case .float64: buffer.pointer(Double.self).update(repeating: value, count: count)
        }
    }

    /// A scalar (rank 0) tensor.
    public convenience init(_ value: Double, dtype: DType = .float32) {
        self.init(repeating: value, shape: [], dtype: dtype)
    }

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { Tensor(repeating: 0, shape: shape, dtype: dtype) }
    /// Ones of `shape`.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { Tensor(repeating: 1, shape: shape, dtype: dtype) }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The values as `Float` (converted from `float64` if needed).
    public var scalars: [Float] {
        switch dtype {
        case .float32: Array(UnsafeBufferPointer(start: buffer.pointer(Float.self), count: count))
        case .float64: UnsafeBufferPointer(start: buffer.pointer(Double.self), count: count).map(Float.init)
        }
    }

    /// The values as `Double`.
    public var doubles: [Double] {
        switch dtype {
        case .float32: UnsafeBufferPointer(start: buffer.pointer(Float.self), count: count).map(Double.init)
        case .float64: Array(UnsafeBufferPointer(start: buffer.pointer(Double.self), count: count))
        }
    }

    /// The only value of a one-element tensor.
    public var item: Double {
        precondition(count == 1, "item of a tensor of shape \(shape)")
        return dtype == .float32 ? Double(buffer.pointer(Float.self)[0]) : buffer.pointer(Double.self)[0]
    }

    /// The same values with no autodiff history (shares memory, in every layout held).
    public var detached: Tensor {
        let twin = rowMajor.map { Tensor(shape: shape, dtype: dtype, buffer: $0) } ?? Tensor(shape: shape, blocked: blocked!)
        if let blocked, rowMajor != nil { twin.keepBlocked(blocked) }
        return twin
    }

    /// A copy with its own memory and no autodiff history.
    public func copy() -> Tensor {
        let result = Tensor(uninitializedShape: shape, dtype: dtype)
        result.buffer.raw.copyMemory(from: buffer.raw, byteCount: count * dtype.size)
        return result
    }

    /// The values converted to `dtype` (a new tensor; no autodiff history).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return copy() }
        return target == .float64 ? Tensor(shape: shape, doubles: doubles) : Tensor(shape: shape, scalars: scalars)
    }

    /// Replaces this tensor's values and element type in place (parameters moving to `float64`
    /// for a gradient check, or a checkpoint loading into a model).
    public func assign(_ other: Tensor) {
        precondition(other.shape == shape, "assigning shape \(other.shape) to \(shape)")
        let source = other.copy()
        buffer = source.buffer
        dtype = source.dtype
    }

    /// Changes the element type in place.
    public func convert(to target: DType) {
        guard target != dtype else { return }
        let source = converted(to: target)
        buffer = source.buffer
        dtype = target
    }

    public var description: String {
        let values = doubles.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(dtype), \(shape)\(count > 0 ? ": " + values : "")\(count > 8 ? ", …" : ""))"
    }

    // Typed raw access for kernels: the row-major values (see the layout rule above). Kernels
    // write only through the pointer of a fresh output, or of a tensor they update in place
    // (`mutablePointer`).
    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        precondition(MemoryLayout<T>.size == dtype.size, "tensor of \(dtype) read as \(T.self)")
        return buffer.pointer(T.self)
    }

    /// The row-major values for writing in place: any blocked copy is dropped, as it would be stale.
    func mutablePointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        let values = pointer(T.self)
        blocked = nil
        return values
    }
}

/// A seeded random number generator (SplitMix64): weight initialisation, dropout, shuffling and
/// augmentation draw from it, so a seed fixes a run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose whole sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (one SplitMix64 step).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box-Muller).
    public mutating func nextNormal() -> Double {
        let u1 = max(Double.leastNormalMagnitude, Double(next() >> 11) / Double(1 << 53))
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

extension Tensor {
    /// Samples from N(mean, std^2).
    public static func randomNormal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                                    generator: inout SeededGenerator) -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in mean + std * generator.nextNormal() }
        return dtype == .float64 ? Tensor(shape: shape, doubles: values) : Tensor(shape: shape, scalars: values.map(Float.init))
    }

    /// Samples from U(low, high).
    public static func randomUniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                                     generator: inout SeededGenerator) -> Tensor {
        let values = (0..<shape.reduce(1, *)).map { _ in Double.random(in: low..<high, using: &generator) }
        return dtype == .float64 ? Tensor(shape: shape, doubles: values) : Tensor(shape: shape, scalars: values.map(Float.init))
    }
}

extension Tensor {
    /// The float32 storage, for code that fills a fresh tensor (batch assembly).
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try body(mutablePointer(Float.self))
    }
}
