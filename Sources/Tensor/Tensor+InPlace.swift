// In-place updates for optimisers and running statistics. They bypass autodiff: use them only on
// leaves (parameters, buffers, optimiser state) outside any recorded computation.
import Parallel

private func axpyKernel<T: TensorScalar>(_: T.Type, _ y: Tensor, _ x: Tensor, _ alpha: Double, _ beta: Double) {
    let (px, py) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: y.mutablePointer(T.self)))
    let (a, b) = (T(alpha), T(beta))
    parallelRanges(y.count, workers: y.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for i in range { py.base[i] = b * py.base[i] + a * px.base[i] }
    }
}

extension Tensor {
    /// `self = beta * self + alpha * other`, in place.
    public func update(adding other: Tensor, scaledBy alpha: Double, keeping beta: Double = 1) {
        precondition(other.shape == shape && other.dtype == dtype, "in-place update of \(shape) with \(other.shape)")
        switch dtype {
        case .float32: axpyKernel(Float.self, self, other, alpha, beta)
        case .float64: axpyKernel(Double.self, self, other, alpha, beta)
        }
    }

    /// `self = scale * self`, in place.
    public func update(scaledBy scale: Double) { update(adding: self, scaledBy: 0, keeping: scale) }

    /// The sum of squares of all elements, in double precision.
    public var squaredNorm: Double {
        switch dtype {
        case .float32:
            let p = pointer(Float.self)
            return (0..<count).reduce(0.0) { $0 + Double(p[$1]) * Double(p[$1]) }
        case .float64:
            let p = pointer(Double.self)
            return (0..<count).reduce(0.0) { $0 + p[$1] * p[$1] }
        }
    }
}
