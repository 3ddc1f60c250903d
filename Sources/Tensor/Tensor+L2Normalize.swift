// `x / max(||x||, eps)` along one axis: attention transfer's maps and CRD's embeddings. One pass for
// the norms and one for the quotient forward, and one each backward, instead of the composite's
// square, sum, square root, clamp and divide with their derivatives (a dozen passes and as many
// allocations per map). A recorded backward uses ordinary ops, so it can be differentiated again.
import Parallel

/// The lines along the normalised axis of a tensor seen as `[n, c, inner]` (`c` the axis): one per `(o, i)`.
extension ChannelLayout {
    var lines: Int { n * inner }

    /// The offset of line `line`'s first element; its elements are `inner` apart.
    func start(_ line: Int) -> Int { (line / inner) * c * inner + line % inner }
}

/// `norms[line] = sqrt(sum_k x^2)` and `y = x / max(norms, eps)` along each line.
private func l2NormalizeKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ layout: ChannelLayout, eps: Double, into y: Tensor, norms: Tensor) {
    let (px, py, pn) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: y.pointer(T.self)),
                        SendablePointer(base: norms.pointer(T.self)))
    let (length, stride) = (layout.c, layout.inner)
    parallelRanges(layout.lines, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, lines in
        for line in lines {
            let first = layout.start(line)
            var squares = 0.0
            for k in 0..<length { let v = Double(px.base[first + k * stride]); squares += v * v }
            // The norm as stored, so that the backward pass sees the same clamping.
            let norm = T(squares.squareRoot())
            pn.base[line] = norm
            let divisor = T(Swift.max(Double(norm), eps))
            for k in 0..<length { py.base[first + k * stride] = px.base[first + k * stride] / divisor }
        }
    }
}

/// `gx = (g - [||x|| >= eps] * y * sum_k(g y)) / max(||x||, eps)` along each line.
private func l2NormalizeBackwardKernel<T: TensorScalar>(_: T.Type, _ g: Tensor, _ y: Tensor, norms: Tensor, _ layout: ChannelLayout,
                                                         eps: Double, into gx: Tensor) {
    let (pg, py, pn, out) = (SendablePointer(base: g.pointer(T.self)), SendablePointer(base: y.pointer(T.self)),
                             SendablePointer(base: norms.pointer(T.self)), SendablePointer(base: gx.pointer(T.self)))
    let (length, stride) = (layout.c, layout.inner)
    parallelRanges(layout.lines, workers: g.count >= parallelThreshold ? ComputeThreads.count : 1) { _, lines in
        for line in lines {
            let first = layout.start(line)
            let norm = Double(pn.base[line])
            var dot = 0.0
            // A clamped norm is a constant: only the quotient's own term remains.
            if norm >= eps {
                for k in 0..<length { dot += Double(pg.base[first + k * stride]) * Double(py.base[first + k * stride]) }
            }
            let (d, divisor) = (T(dot), T(Swift.max(norm, eps)))
            for k in 0..<length {
                let i = first + k * stride
                out.base[i] = (pg.base[i] - py.base[i] * d) / divisor
            }
        }
    }
}

extension Tensor {
    /// `x / max(||x||_2, eps)` along `axis` (PyTorch's `F.normalize`), as one recorded op.
    public func l2Normalized(axis: Int, eps: Double = 1e-12) -> Tensor {
        precondition(axis >= 0 && axis < rank, "l2Normalized along axis \(axis) of \(shape)")
        let layout = ChannelLayout(shape, axis: axis)
        var normShape = shape
        normShape[axis] = 1
        let (y, norms) = (Tensor(uninitializedShape: shape, dtype: dtype), Tensor(uninitializedShape: normShape, dtype: dtype))
        switch dtype {
        case .float32: l2NormalizeKernel(Float.self, self, layout, eps: eps, into: y, norms: norms)
        case .float64: l2NormalizeKernel(Double.self, self, layout, eps: eps, into: y, norms: norms)
        }
        return y.recorded(.l2Normalize(axis: axis, eps: eps), [self], saved: [norms])
    }

    /// The gradient of `l2Normalized` given its input `x`, output `y`, the norms along `axis` and upstream `g`:
    /// by the fused kernel when nothing records, else in ops (the norms recomputed from `x`, so that
    /// they too are differentiated).
    static func l2NormalizedGradient(_ x: Tensor, output y: Tensor, norms: Tensor, axis: Int, eps: Double, upstream g: Tensor) -> Tensor {
        guard !GradMode.isRecording else {
            // Clamped before the square root, so that a zero line differentiates to finite values.
            let squares = x.pow(2).sum(axes: [axis], keepDims: true)
            let clampedNorm = squares.clamped(min: eps * eps).sqrt()
            let quotient = x / clampedNorm
            let unclamped = squares.inside(eps * eps, .infinity)
            return (g - quotient * ((g * quotient).sum(axes: [axis], keepDims: true) * unclamped)) / clampedNorm
        }
        let gx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let layout = ChannelLayout(x.shape, axis: axis)
        switch x.dtype {
        case .float32: l2NormalizeBackwardKernel(Float.self, g, y, norms: norms, layout, eps: eps, into: gx)
        case .float64: l2NormalizeBackwardKernel(Double.self, g, y, norms: norms, layout, eps: eps, into: gx)
        }
        return gx
    }
}
