// `sum (a - b)^2` over two tensors of one shape: the core of the mean squared error, FitNet's hint
// loss and attention transfer. One pass forward and one backward instead of the composite's
// subtract, square, sum and their derivatives (eight passes over a hint of millions of values); a
// recorded backward uses ordinary ops, so it can be differentiated again.
import Parallel

/// The sum of `(a[i] - b[i])^2` over `range`, in blocks of 8 accumulators added into a Double.
@inline(__always) private func squaredDistance<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>,
                                                                 _ range: Range<Int>) -> Double {
    var total = 0.0, i = range.lowerBound
    while i < range.upperBound {
        let end = Swift.min(range.upperBound, i + 4096)
        var acc = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
        while i + 8 <= end {
            let d = (a[i] - b[i], a[i + 1] - b[i + 1], a[i + 2] - b[i + 2], a[i + 3] - b[i + 3],
                     a[i + 4] - b[i + 4], a[i + 5] - b[i + 5], a[i + 6] - b[i + 6], a[i + 7] - b[i + 7])
            acc.0 += d.0 * d.0; acc.1 += d.1 * d.1; acc.2 += d.2 * d.2; acc.3 += d.3 * d.3
            acc.4 += d.4 * d.4; acc.5 += d.5 * d.5; acc.6 += d.6 * d.6; acc.7 += d.7 * d.7
            i += 8
        }
        var tail = T(0)
        while i < end { let d = a[i] - b[i]; tail += d * d; i += 1 }
        total += Double(((acc.0 + acc.1) + (acc.2 + acc.3)) + ((acc.4 + acc.5) + (acc.6 + acc.7)) + tail)
    }
    return total
}

private func squaredDistanceKernel<T: TensorScalar>(_: T.Type, _ a: Tensor, _ b: Tensor) -> Double {
    let (pa, pb) = (SendablePointer(base: a.pointer(T.self)), SendablePointer(base: b.pointer(T.self)))
    let workers = a.count >= parallelThreshold ? ComputeThreads.count : 1
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: workers)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0, count: workers)
    let sums = SendablePointer(base: partial)
    parallelRanges(a.count, workers: workers) { worker, range in sums.base[worker] = squaredDistance(pa.base, pb.base, range) }
    // Added in worker order: the same thread count gives the same sum.
    return (0..<workers).reduce(0) { $0 + partial[$1] }
}

/// `gradient[i] = factor * (a[i] - b[i])`.
private func scaledDifferenceKernel<T: TensorScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, factor: Double, into gradient: Tensor) {
    let (pa, pb, pg) = (SendablePointer(base: a.pointer(T.self)), SendablePointer(base: b.pointer(T.self)),
                        SendablePointer(base: gradient.pointer(T.self)))
    let f = T(factor)
    parallelRanges(a.count, workers: a.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for i in range { pg.base[i] = f * (pa.base[i] - pb.base[i]) }
    }
}

extension Tensor {
    /// `sum (a - b)^2` of two tensors of one shape and dtype: a scalar.
    public static func squaredDistance(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape && a.dtype == b.dtype, "squaredDistance of \(a.shape) \(a.dtype) and \(b.shape) \(b.dtype)")
        let total = switch a.dtype {
        case .float32: squaredDistanceKernel(Float.self, a, b)
        case .float64: squaredDistanceKernel(Double.self, a, b)
        }
        return Tensor(total, dtype: a.dtype).recorded(.squaredDistance, [a, b])
    }

    /// The gradient of `squaredDistance` with respect to `a` given the scalar upstream `g`:
    /// `2 g (a - b)`, by the fused kernel when nothing records, else in ops. (That of `b` is its negation.)
    static func squaredDistanceGradient(_ a: Tensor, _ b: Tensor, upstream g: Tensor) -> Tensor {
        guard !GradMode.isRecording else { return (a - b) * (g * 2) }
        let gradient = Tensor(uninitializedShape: a.shape, dtype: a.dtype)
        let factor = 2 * g.doubles[0]
        switch a.dtype {
        case .float32: scaledDifferenceKernel(Float.self, a, b, factor: factor, into: gradient)
        case .float64: scaledDifferenceKernel(Double.self, a, b, factor: factor, into: gradient)
        }
        return gradient
    }
}
