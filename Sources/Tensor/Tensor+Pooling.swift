// Pooling over NCHW planes: max pooling as a gather of the window maxima (its adjoint is a
// scatter-add, and each is the other's derivative). Global average pooling is a mean over H, W.
import Parallel

/// Kernel size, stride and zero padding of a square pooling window.
public struct PoolGeometry: Equatable, Sendable {
    /// Window side, in elements.
    public var kernel: Int
    /// Step between windows, in elements.
    public var stride: Int
    /// Padding added on each side of both spatial axes.
    public var padding: Int

    /// A `kernel x kernel` window; `stride` defaults to `kernel` (non-overlapping windows).
    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
    }

    func output(_ input: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }
}

/// Flat element indices, as saved by gathers (max pooling, label picking).
final class IndexList: @unchecked Sendable {
    let indices: [Int32]
    init(_ indices: [Int32]) { self.indices = indices }
}

/// Non-overlapping 2x2 windows of one row pair of a float image `width` wide, four at a time:
/// the maxima into `maxima` and the flat indices (from `firstIndex`, the window row's first
/// element) into `indices`, the first maximum in row-major order winning. Returns how many of the
/// `count` windows it did (a multiple of 4).
private func maxPoolFourWindows(_ top: UnsafeMutablePointer<Float>, width: Int, count: Int, firstIndex: Int,
                                _ maxima: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int32>) -> Int {
    let lanes = SIMD4<Int32>(0, 2, 4, 6), (zero, one) = (SIMD4<Int32>(repeating: 0), SIMD4<Int32>(repeating: 1))
    var ox = 0
    while ox + 4 <= count {
        let upperRow = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
        let lowerRow = UnsafeRawPointer(top + width + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
        let (a, b, c, d) = (upperRow.evenHalf, upperRow.oddHalf, lowerRow.evenHalf, lowerRow.oddHalf)
        let (right, lowerRight) = (b .> a, d .> c)
        let upper = a.replacing(with: b, where: right), lower = c.replacing(with: d, where: lowerRight)
        let down = lower .> upper
        let offset = zero.replacing(with: one, where: right)
            .replacing(with: SIMD4<Int32>(repeating: Int32(width)) &+ zero.replacing(with: one, where: lowerRight), where: down)
        UnsafeMutableRawPointer(maxima + ox).storeBytes(of: upper.replacing(with: lower, where: down), as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(indices + ox).storeBytes(of: SIMD4<Int32>(repeating: Int32(firstIndex + 2 * ox)) &+ lanes &+ offset,
                                                         as: SIMD4<Int32>.self)
        ox += 4
    }
    return ox
}

/// The maxima of every window of `x` into `values`, and their flat indices into `target`.
@_specialize(where T == Float)
@_specialize(where T == Double)
private func maxPoolKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: PoolGeometry, _ values: SendablePointer<T>,
                                            _ target: SendablePointer<Int32>) {
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (g.output(h), g.output(w))
    let source = SendablePointer(base: x.pointer(T.self))
    parallelRanges(planes, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for plane in range {
            let base = plane * h * w
            let image = source.base + base
            let (maxima, indices) = (values.base + plane * oh * ow, target.base + plane * oh * ow)
            if g.padding == 0 && g.stride == 2 && g.kernel == 2 {
                for oy in 0..<oh {
                    let (top, row) = (2 * oy * w, oy * ow)
                    // Float takes four windows at a time; the rest, and Double, one at a time.
                    let done = T.self == Float.self
                        ? maxPoolFourWindows(UnsafeMutableRawPointer(image + top).assumingMemoryBound(to: Float.self), width: w, count: ow,
                                             firstIndex: base + top, UnsafeMutableRawPointer(maxima + row).assumingMemoryBound(to: Float.self),
                                             indices + row)
                        : 0
                    for ox in done..<ow {
                        // Without branches (the comparisons are unpredictable): the first maximum in
                        // row-major order wins, as below.
                        let i = top + 2 * ox
                        let (a, b, c, d) = (image[i], image[i + 1], image[i + w], image[i + w + 1])
                        let upper = b > a ? b : a, upperIndex = b > a ? i + 1 : i
                        let lower = d > c ? d : c, lowerIndex = d > c ? i + w + 1 : i + w
                        maxima[row + ox] = lower > upper ? lower : upper
                        indices[row + ox] = Int32(base + (lower > upper ? lowerIndex : upperIndex))
                    }
                }
                continue
            }
            for oy in 0..<oh {
                let top = oy * g.stride - g.padding
                let rows = Swift.max(0, top)..<Swift.min(h, top + g.kernel)
                for ox in 0..<ow {
                    let left = ox * g.stride - g.padding
                    let columns = Swift.max(0, left)..<Swift.min(w, left + g.kernel)
                    var bestIndex = rows.lowerBound * w + columns.lowerBound
                    var best = image[bestIndex]
                    for iy in rows {
                        for ix in columns where image[iy * w + ix] > best {
                            best = image[iy * w + ix]
                            bestIndex = iy * w + ix
                        }
                    }
                    maxima[oy * ow + ox] = best
                    indices[oy * ow + ox] = Int32(base + bestIndex)
                }
            }
        }
    }
}

private func gatherKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ indices: [Int32], _ out: Tensor) {
    let (source, target) = (x.pointer(T.self), out.pointer(T.self))
    for (i, index) in indices.enumerated() { target[i] = source[Int(index)] }
}

private func scatterAddKernel<T: TensorScalar>(_: T.Type, _ g: Tensor, _ indices: [Int32], _ out: Tensor) {
    let (source, target) = (g.pointer(T.self), out.pointer(T.self))
    target.update(repeating: 0, count: out.count)
    for (i, index) in indices.enumerated() { target[Int(index)] += source[i] }
}

extension Tensor {
    /// Elements at flat `indices`, shaped `shape`.
    func gathered(_ indices: IndexList, shape: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: gatherKernel(Float.self, self, indices.indices, out)
        case .float64: gatherKernel(Double.self, self, indices.indices, out)
        }
        return out.recorded(.gather(indices), [self])
    }

    /// Zeros of `shape` with this tensor's elements added at flat `indices` (the adjoint of a gather).
    func scatterAdded(_ indices: IndexList, shape: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: scatterAddKernel(Float.self, self, indices.indices, out)
        case .float64: scatterAddKernel(Double.self, self, indices.indices, out)
        }
        return out.recorded(.scatterAdd(indices), [self])
    }

    /// The elements at flat row-major positions `indices` (a constant selection), shaped `shape`.
    public func gathered(flatIndices indices: [Int], shape: [Int]) -> Tensor {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < count }, "gather index outside 0..<\(count)")
        return gathered(IndexList(indices.map { Int32($0) }), shape: shape)
    }

    /// Max pooling of `[N,C,H,W]`; padding never wins. The gradient goes to the first maximum.
    public func maxPooled(_ geometry: PoolGeometry) -> Tensor {
        precondition(rank == 4, "max pooling of \(shape)")
        let outShape = [shape[0], shape[1], geometry.output(shape[2]), geometry.output(shape[3])]
        let out = Tensor(uninitializedShape: outShape, dtype: dtype)
        let indices = [Int32](unsafeUninitializedCapacity: out.count) { buffer, initialized in
            let target = SendablePointer(base: buffer.baseAddress!)
            switch dtype {
            case .float32: maxPoolKernel(Float.self, self, geometry, SendablePointer(base: out.pointer(Float.self)), target)
            case .float64: maxPoolKernel(Double.self, self, geometry, SendablePointer(base: out.pointer(Double.self)), target)
            }
            initialized = out.count
        }
        // The values are those a gather at the indices would give; recorded as one, for the derivatives.
        return out.recorded(.gather(IndexList(indices)), [self])
    }
}
