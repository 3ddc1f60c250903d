// Pooling over NCHW planes: max pooling as a gather of the window maxima (its adjoint is a
// scatter-add, and each is the other's derivative), and average pooling with its adjoint.
import Parallel

/// Kernel size, stride and zero padding of a square pooling window.
public struct PoolGeometry: Equatable, Sendable {
    public var kernel: Int
    public var stride: Int
    public var padding: Int

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

@_specialize(where T == Float)
@_specialize(where T == Double)
private func maxIndicesKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: PoolGeometry, _ target: SendablePointer<Int32>) {
    let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (g.output(h), g.output(w))
    let source = SendablePointer(base: x.pointer(T.self))
    parallelRanges(planes, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for plane in range {
            let base = plane * h * w
            let image = source.base + base
            if g.padding == 0 && g.stride == g.kernel {
                // Non-overlapping windows inside the image: no bounds to check.
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var bestIndex = oy * g.kernel * w + ox * g.kernel
                        var best = image[bestIndex]
                        for ky in 0..<g.kernel {
                            let row = (oy * g.kernel + ky) * w + ox * g.kernel
                            for kx in 0..<g.kernel where image[row + kx] > best {
                                best = image[row + kx]
                                bestIndex = row + kx
                            }
                        }
                        target.base[(plane * oh + oy) * ow + ox] = Int32(base + bestIndex)
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
                    target.base[(plane * oh + oy) * ow + ox] = Int32(base + bestIndex)
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

private func averagePoolKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ out: Tensor, _ g: PoolGeometry, adjoint: Bool) {
    // Forward: x is the input, out the pooled result. Adjoint: x is the pooled gradient, out the input gradient.
    let (inputShape, pooledShape) = adjoint ? (out.shape, x.shape) : (x.shape, out.shape)
    let (planes, h, w) = (inputShape[0] * inputShape[1], inputShape[2], inputShape[3])
    let (oh, ow) = (pooledShape[2], pooledShape[3])
    let scale = 1 / T(g.kernel * g.kernel)
    let (source, target) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: out.pointer(T.self)))
    if adjoint { target.base.update(repeating: 0, count: out.count) }
    parallelRanges(planes, workers: out.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for plane in range {
            let image = plane * h * w, pooled = plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var total = T(0)
                    let upstream = adjoint ? source.base[pooled + oy * ow + ox] * scale : 0
                    for ky in 0..<g.kernel {
                        let iy = oy * g.stride - g.padding + ky
                        guard iy >= 0 && iy < h else { continue }
                        for kx in 0..<g.kernel {
                            let ix = ox * g.stride - g.padding + kx
                            guard ix >= 0 && ix < w else { continue }
                            if adjoint { target.base[image + iy * w + ix] += upstream } else { total += source.base[image + iy * w + ix] }
                        }
                    }
                    if !adjoint { target.base[pooled + oy * ow + ox] = total * scale }
                }
            }
        }
    }
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
        var indices = [Int32](repeating: 0, count: outShape.reduce(1, *))
        indices.withUnsafeMutableBufferPointer { buffer in
            let target = SendablePointer(base: buffer.baseAddress!)
            switch dtype {
            case .float32: maxIndicesKernel(Float.self, self, geometry, target)
            case .float64: maxIndicesKernel(Double.self, self, geometry, target)
            }
        }
        return gathered(IndexList(indices), shape: outShape)
    }

    /// Average pooling of `[N,C,H,W]`, padding counted as zeros (PyTorch's `count_include_pad`).
    public func averagePooled(_ geometry: PoolGeometry) -> Tensor {
        precondition(rank == 4, "average pooling of \(shape)")
        let out = Tensor(uninitializedShape: [shape[0], shape[1], geometry.output(shape[2]), geometry.output(shape[3])], dtype: dtype)
        switch dtype {
        case .float32: averagePoolKernel(Float.self, self, out, geometry, adjoint: false)
        case .float64: averagePoolKernel(Double.self, self, out, geometry, adjoint: false)
        }
        return out.recorded(.averagePool(geometry), [self])
    }

    /// The adjoint of average pooling: spreads each pooled gradient over its window.
    func averagePoolAdjoint(_ geometry: PoolGeometry, inputShape: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: inputShape, dtype: dtype)
        switch dtype {
        case .float32: averagePoolKernel(Float.self, self, out, geometry, adjoint: true)
        case .float64: averagePoolKernel(Double.self, self, out, geometry, adjoint: true)
        }
        return out.recorded(.averagePoolAdjoint(geometry), [self])
    }
}
