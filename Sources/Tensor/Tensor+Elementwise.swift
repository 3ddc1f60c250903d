// Elementwise ops: arithmetic with NumPy broadcasting, unary functions, and comparison masks.
// Operands held in a channel-blocked layout (BlockedLayout.swift) are worked on in it.
internal import DNNL
import Parallel

/// A binary function the elementwise kernel is specialised for.
protocol BinaryFunction: SendableMetatype { static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T }
enum AddFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a + b } }
enum SubtractFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a - b } }
enum MultiplyFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a * b } }
enum DivideFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a / b } }
/// `a` where `b > 0`, else 0: ReLU's backward pass (`a` the upstream gradient, `b` the input).
enum ReluMaskFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { b > 0 ? a : 0 } }
enum EqualFunction: BinaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ a: T, _ b: T) -> T { a == b ? 1 : 0 } }

/// `out = f(a, b)` over the broadcast of `a` and `b`.
private func binaryKernel<F: BinaryFunction, T: TensorScalar>(_: F.Type, _: T.Type, _ a: Tensor, _ b: Tensor, _ out: Tensor) {
    let loop = BroadcastLoop(shape: out.shape, strides: [broadcastStrides(a.shape, to: out.shape),
                                                          broadcastStrides(b.shape, to: out.shape),
                                                          contiguousStrides(out.shape)])
    let (pa, pb, po) = (SendablePointer(base: a.pointer(T.self)), SendablePointer(base: b.pointer(T.self)),
                        SendablePointer(base: out.pointer(T.self)))
    loop.forEachRow { offsets, length, inner in
        let x = pa.base + offsets[0], y = pb.base + offsets[1], z = po.base + offsets[2]
        switch (inner[0], inner[1]) {
        case (1, 1): for i in 0..<length { z[i] = F.apply(x[i], y[i]) }
        case (1, 0): let c = y[0]; for i in 0..<length { z[i] = F.apply(x[i], c) }
        case (0, 1): let c = x[0]; for i in 0..<length { z[i] = F.apply(c, y[i]) }
        default: for i in 0..<length { z[i] = F.apply(x[i * inner[0]], y[i * inner[1]]) }
        }
    }
}

/// How one operand of an elementwise op on a blocked `[N,C,H,W]` result is read.
private enum BlockedOperand: Sendable {
    /// Every element, in the result's layout.
    case values(SendablePointer<Float>)
    /// One value for all.
    case constant(Float)
    /// One value per channel (`[1,C,1,1]` or any shape broadcasting as it does).
    case channel(SendablePointer<Float>)

    /// The operand's value at element `index` of the result, which is in channel `channel`.
    @inline(__always) func value(_ index: Int, _ channel: Int) -> Float {
        switch self {
        case .values(let p): p.base[index]
        case .constant(let c): c
        case .channel(let p): p.base[channel]
        }
    }
}

/// How `t` is read for a blocked result of `shape` in `blocks`, or nil if it cannot be without
/// reordering: its blocked copy, a single value, or a per-channel vector.
private func blockedOperand(_ t: Tensor, shape: [Int], blocks: ChannelBlocks) -> BlockedOperand? {
    if t.shape == shape, let held = t.blockedPointer(blocks) { return .values(SendablePointer(base: held)) }
    if t.count == 1 { return .constant(t.pointer(Float.self)[0]) }
    let padded = [Int](repeating: 1, count: Swift.max(0, 4 - t.rank)) + t.shape
    if padded == [1, shape[1], 1, 1] { return .channel(SendablePointer(base: t.pointer(Float.self))) }
    return nil
}

/// `f(a, b)` in a blocked layout, when a full-shape operand holds only that layout and the other
/// holds it too, is a single value, or is one value per channel (a bias, batch norm's scale):
/// nil otherwise.
private func blockedBinary<F: BinaryFunction>(_: F.Type, _ a: Tensor, _ b: Tensor, shape: [Int]) -> Tensor? {
    guard shape.count == 4, a.dtype == .float32, b.dtype == .float32 else { return nil }
    let sole = [a, b].first { $0.shape == shape && $0.isBlockedOnly && $0.blocked != nil }
    guard let blocks = sole?.blocked?.blocks,
          let x = blockedOperand(a, shape: shape, blocks: blocks), let y = blockedOperand(b, shape: shape, blocks: blocks) else { return nil }
    let out = Tensor.blockedOutput(shape, blocks: blocks)
    let z = SendablePointer(base: out.blockedPointer(blocks)!)
    let count = out.count
    let workers = count >= parallelThreshold ? ComputeThreads.count : 1
    switch (x, y) {
    case (.values(let x), .values(let y)):
        parallelRanges(count, workers: workers) { _, range in for i in range { z.base[i] = F.apply(x.base[i], y.base[i]) } }
    case (.values(let x), .constant(let c)):
        parallelRanges(count, workers: workers) { _, range in for i in range { z.base[i] = F.apply(x.base[i], c) } }
    case (.constant(let c), .values(let y)):
        parallelRanges(count, workers: workers) { _, range in for i in range { z.base[i] = F.apply(c, y.base[i]) } }
    default:
        // Rows of `k` channels of one pixel: row r is pixel r % HW of channel block (r / HW) % (C / k).
        let (k, spatial, perImage) = (blocks.size, shape[2] * shape[3], shape[1] / blocks.size)
        if case .values(let x) = x, case .channel(let y) = y {
            parallelRanges(count / k, workers: workers) { _, rows in
                for row in rows {
                    let (values, channels, target) = (x.base + row * k, y.base + (row / spatial) % perImage * k, z.base + row * k)
                    for lane in 0..<k { target[lane] = F.apply(values[lane], channels[lane]) }
                }
            }
            return out
        }
        parallelRanges(count / k, workers: workers) { _, rows in
            for row in rows {
                let (first, channel) = (row * k, (row / spatial) % perImage * k)
                for lane in 0..<k { z.base[first + lane] = F.apply(x.value(first + lane, channel + lane), y.value(first + lane, channel + lane)) }
            }
        }
    }
    return out
}

/// Applies a broadcasting binary function, checking shapes and types.
func broadcasting<F: BinaryFunction>(_ function: F.Type, _ a: Tensor, _ b: Tensor, _ name: String) -> Tensor {
    precondition(a.dtype == b.dtype, "\(name): \(a.dtype) and \(b.dtype) tensors")
    guard let shape = broadcastShape(a.shape, b.shape) else {
        preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    if let out = blockedBinary(function, a, b, shape: shape) { return out }
    let out = Tensor(uninitializedShape: shape, dtype: a.dtype)
    switch a.dtype {
    case .float32: binaryKernel(function, Float.self, a, b, out)
    case .float64: binaryKernel(function, Double.self, a, b, out)
    }
    return out
}

/// A unary function with one constant parameter.
protocol UnaryFunction: SendableMetatype { static func apply<T: TensorScalar>(_ x: T, _ p: T, _ q: T) -> T }
enum NegateFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { -x } }
enum ExpFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { T.exponential(x) } }
enum LogFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { T.logarithm(x) } }
enum SqrtFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { x.squareRoot() } }
enum AbsFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { Swift.abs(x) } }
enum ReluFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { x > 0 ? x : 0 } }
enum PowerFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _ p: T, _: T) -> T { T.power(x, p) } }
/// `x^2`, `x^-0.5`: the exponents `pow` computes without a call to `pow` (so the loop vectorises).
enum SquareFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { x * x } }
enum ReciprocalSquareRootFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { 1 / x.squareRoot() } }
enum ClampFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _ p: T, _ q: T) -> T { Swift.min(Swift.max(x, p), q) } }
enum SignFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _: T, _: T) -> T { x > 0 ? 1 : x < 0 ? -1 : 0 } }
/// 1 inside `[p, q]`, else 0.
enum InsideFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _ p: T, _ q: T) -> T { x >= p && x <= q ? 1 : 0 } }
/// 1 strictly between `p` and `q`, else 0.
enum BetweenFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _ p: T, _ q: T) -> T { x > p && x < q ? 1 : 0 } }
/// 1 where `x > p`, else 0.
enum GreaterFunction: UnaryFunction { @inline(__always) static func apply<T: TensorScalar>(_ x: T, _ p: T, _: T) -> T { x > p ? 1 : 0 } }

/// `target[i] = f(source[i], p, q)` for `count` elements, in any layout both share.
private func unaryKernel<F: UnaryFunction, T: TensorScalar>(_: F.Type, _ source: UnsafeMutablePointer<T>, _ target: UnsafeMutablePointer<T>,
                                                            count: Int, _ p: Double, _ q: Double) {
    let (source, target) = (SendablePointer(base: source), SendablePointer(base: target))
    let (tp, tq) = (T(p), T(q))
    parallelRanges(count, workers: count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for i in range { target.base[i] = F.apply(source.base[i], tp, tq) }
    }
}

/// Applies a unary function to every element; a tensor held only in a blocked layout gives one in the same layout.
func elementwise<F: UnaryFunction>(_ function: F.Type, _ x: Tensor, _ p: Double = 0, _ q: Double = 0) -> Tensor {
    if x.isBlockedOnly, let blocks = x.blocked?.blocks {
        let out = Tensor.blockedOutput(x.shape, blocks: blocks)
        unaryKernel(function, x.blockedPointer(blocks)!, out.blockedPointer(blocks)!, count: x.count, p, q)
        return out
    }
    let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    switch x.dtype {
    case .float32: unaryKernel(function, x.pointer(Float.self), out.pointer(Float.self), count: x.count, p, q)
    case .float64: unaryKernel(function, x.pointer(Double.self), out.pointer(Double.self), count: x.count, p, q)
    }
    return out
}

extension Tensor {
    /// A scalar of this tensor's type, for arithmetic with constants.
    func constant(_ value: Double) -> Tensor { Tensor(value, dtype: dtype) }

    /// Elementwise sum; shapes broadcast (NumPy rules), dtypes must match.
    public static func + (a: Tensor, b: Tensor) -> Tensor { broadcasting(AddFunction.self, a, b, "add").recorded(.add, [a, b]) }
    /// Elementwise difference; shapes broadcast (NumPy rules), dtypes must match.
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcasting(SubtractFunction.self, a, b, "subtract").recorded(.subtract, [a, b]) }
    /// Elementwise product; shapes broadcast (NumPy rules), dtypes must match.
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcasting(MultiplyFunction.self, a, b, "multiply").recorded(.multiply, [a, b]) }
    /// Elementwise quotient; shapes broadcast (NumPy rules), dtypes must match.
    public static func / (a: Tensor, b: Tensor) -> Tensor { broadcasting(DivideFunction.self, a, b, "divide").recorded(.divide, [a, b]) }
    /// `b` added to every element; same shape as `a`.
    public static func + (a: Tensor, b: Double) -> Tensor { a + a.constant(b) }
    /// `b` subtracted from every element; same shape as `a`.
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.constant(b) }
    /// Every element times `b`; same shape as `a`.
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.constant(b) }
    /// Every element divided by `b` (as a multiplication by `1 / b`); same shape as `a`.
    public static func / (a: Tensor, b: Double) -> Tensor { a * a.constant(1 / b) }
    /// `a` added to every element; same shape as `b`.
    public static func + (a: Double, b: Tensor) -> Tensor { b.constant(a) + b }
    /// `a` minus every element; same shape as `b`.
    public static func - (a: Double, b: Tensor) -> Tensor { b.constant(a) - b }
    /// `a` times every element; same shape as `b`.
    public static func * (a: Double, b: Tensor) -> Tensor { b.constant(a) * b }
    /// `a` divided by every element; same shape as `b`.
    public static func / (a: Double, b: Tensor) -> Tensor { b.constant(a) / b }
    /// Elementwise negation; same shape as `x`.
    public static prefix func - (x: Tensor) -> Tensor { elementwise(NegateFunction.self, x).recorded(.negate, [x]) }

    /// `e^x`.
    public func exp() -> Tensor { elementwise(ExpFunction.self, self).recorded(.exp, [self]) }
    /// Natural logarithm.
    public func log() -> Tensor { elementwise(LogFunction.self, self).recorded(.log, [self]) }
    /// Square root.
    public func sqrt() -> Tensor { elementwise(SqrtFunction.self, self).recorded(.sqrt, [self]) }
    /// `x^p` for a constant exponent.
    public func pow(_ p: Double) -> Tensor {
        let out = switch p {
        case 2: elementwise(SquareFunction.self, self)
        case -0.5: elementwise(ReciprocalSquareRootFunction.self, self)
        default: elementwise(PowerFunction.self, self, p)
        }
        return out.recorded(.power(p), [self])
    }
    /// Absolute value (derivative `sign(x)`, 0 at 0).
    public func abs() -> Tensor { elementwise(AbsFunction.self, self).recorded(.abs, [self]) }
    /// `max(x, 0)` (derivative 1 where x > 0, else 0).
    public func relu() -> Tensor { elementwise(ReluFunction.self, self).recorded(.relu, [self]) }
    /// ReLU's backward pass in one op: upstream `g` where `input > 0`, else 0 (shapes broadcast).
    static func reluGradient(_ g: Tensor, input: Tensor) -> Tensor {
        broadcasting(ReluMaskFunction.self, g, input, "relu gradient").recorded(.reluGradient, [g, input])
    }
    /// `min(max(x, 0), 6)` (derivative 1 where 0 < x < 6, else 0, as PyTorch's ReLU6, a hardtanh).
    public func relu6() -> Tensor { elementwise(ClampFunction.self, self, 0, 6).recorded(.relu6, [self]) }
    /// Values limited to `[low, high]` (derivative 1 inside, 0 outside).
    public func clamped(min low: Double = -.infinity, max high: Double = .infinity) -> Tensor {
        elementwise(ClampFunction.self, self, low, high).recorded(.clamp(low, high), [self])
    }

    /// -1, 0 or 1 by sign; not differentiable (a constant).
    public func sign() -> Tensor { elementwise(SignFunction.self, self) }
    /// 1 where `x > threshold`, else 0; a constant.
    public func greater(than threshold: Double) -> Tensor { elementwise(GreaterFunction.self, self, threshold) }
    /// 1 where `low <= x <= high`, else 0; a constant.
    func inside(_ low: Double, _ high: Double) -> Tensor { elementwise(InsideFunction.self, self, low, high) }
    /// 1 where `low < x < high`, else 0; a constant.
    func between(_ low: Double, _ high: Double) -> Tensor { elementwise(BetweenFunction.self, self, low, high) }
    /// 1 where equal (broadcasting), else 0; a constant.
    public func equal(_ other: Tensor) -> Tensor { broadcasting(EqualFunction.self, self, other, "equal") }
}
