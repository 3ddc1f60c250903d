// A fused elementwise penalty for activation-boundary transfer: the squared distance of each value
// from the side of a margin that a 0/1 mask chooses. Written as one pass forward and one backward
// (the composite form makes a dozen passes over maps of millions of values); a recorded backward
// uses ordinary ops instead, so it can be differentiated again.
import Parallel

private func marginSquaresKernel<T: TensorScalar>(_: T.Type, _ s: Tensor, _ mask: Tensor, _ out: Tensor, margin: Double,
                                                  upstream: Tensor?) {
    let (ps, pm, po) = (SendablePointer(base: s.pointer(T.self)), SendablePointer(base: mask.pointer(T.self)),
                        SendablePointer(base: out.pointer(T.self)))
    let pg = upstream.map { SendablePointer(base: $0.pointer(T.self)) }
    let mu = T(margin)
    @Sendable @inline(__always) func gap(_ i: Int) -> T { pm.base[i] > 0 ? Swift.max(0, mu - ps.base[i]) : -Swift.max(0, mu + ps.base[i]) }
    parallelRanges(s.count, workers: s.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        // gap(i) carries the sign of the derivative: -2 gap is d/ds of gap^2 on both sides.
        if let pg {
            for i in range { po.base[i] = -2 * pg.base[i] * gap(i) }
        } else {
            for i in range { let g = gap(i); po.base[i] = g * g }
        }
    }
}

extension Tensor {
    /// `mask * max(0, margin - s)^2 + (1 - mask) * max(0, margin + s)^2` elementwise, for a 0/1
    /// `mask` of the same shape (a constant: no gradient flows to it).
    public static func marginSquares(_ s: Tensor, mask: Tensor, margin: Double) -> Tensor {
        precondition(s.shape == mask.shape && s.dtype == mask.dtype, "marginSquares: \(s.shape) values and \(mask.shape) mask")
        let mask = mask.detached
        let out = Tensor(uninitializedShape: s.shape, dtype: s.dtype)
        switch s.dtype {
        case .float32: marginSquaresKernel(Float.self, s, mask, out, margin: margin, upstream: nil)
        case .float64: marginSquaresKernel(Double.self, s, mask, out, margin: margin, upstream: nil)
        }
        return out.recorded(.marginSquares(margin), [s, mask])
    }

    /// The gradient of `marginSquares` with respect to `s` times `upstream`: the fused kernel when
    /// nothing records, else `2 (1 - mask) relu(margin + s) - 2 mask relu(margin - s)` in ops.
    static func marginSquaresGradient(_ s: Tensor, mask: Tensor, margin: Double, upstream g: Tensor) -> Tensor {
        guard !GradMode.isRecording else {
            return g * (2 * (1 - mask) * (margin + s).relu() - 2 * mask * (margin - s).relu())
        }
        let out = Tensor(uninitializedShape: s.shape, dtype: s.dtype)
        switch s.dtype {
        case .float32: marginSquaresKernel(Float.self, s, mask, out, margin: margin, upstream: g)
        case .float64: marginSquaresKernel(Double.self, s, mask, out, margin: margin, upstream: g)
        }
        return out
    }
}

extension Tensor {
    /// How many elements have `s > 0` exactly where the 0/1 `mask` is 1: the activation similarity
    /// of Heo et al. (the share of neurons whose firing agrees) times the element count. A count,
    /// not differentiable.
    public static func signAgreements(_ s: Tensor, mask: Tensor) -> Int {
        precondition(s.shape == mask.shape && s.dtype == mask.dtype, "signAgreements: \(s.shape) values and \(mask.shape) mask")
        func count<T: TensorScalar>(_: T.Type) -> Int {
            let (ps, pm) = (s.pointer(T.self), mask.pointer(T.self))
            var agree = 0
            for i in 0..<s.count where (ps[i] > 0) == (pm[i] > 0) { agree += 1 }
            return agree
        }
        switch s.dtype {
        case .float32: return count(Float.self)
        case .float64: return count(Double.self)
        }
    }
}
