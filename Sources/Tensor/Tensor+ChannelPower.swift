// `sum_c |x_c|^p` over the channels of `[N, C, ...]`: the attention map of activation-based
// attention transfer before normalisation. One pass forward and one backward instead of the
// composite's abs, power, sum and their derivatives over the whole feature map; a recorded
// backward uses ordinary ops, so it can be differentiated again.
import Parallel

/// `|x|^p`, and its derivative `p |x|^(p-1) sign(x)`, with p = 2 without a call to pow.
@inline(__always) private func magnitude<T: TensorScalar>(_ x: T, _ p: T) -> T { p == 2 ? x * x : T.power(Swift.abs(x), p) }
@inline(__always) private func slope<T: TensorScalar>(_ x: T, _ p: T) -> T {
    p == 2 ? 2 * x : x == 0 ? 0 : p * T.power(Swift.abs(x), p - 1) * (x > 0 ? 1 : -1)
}

private func channelPowerSumKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ out: Tensor, p: Double) {
    let layout = ChannelLayout(x.shape)
    let (px, po) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: out.pointer(T.self)))
    let tp = T(p)
    parallelRanges(layout.n, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, images in
        for image in images {
            let row = po.base + image * layout.inner
            row.update(repeating: 0, count: layout.inner)
            for channel in 0..<layout.c {
                let plane = px.base + (image * layout.c + channel) * layout.inner
                for i in 0..<layout.inner { row[i] += magnitude(plane[i], tp) }
            }
        }
    }
}

private func channelPowerSumBackwardKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: Tensor, _ gx: Tensor, p: Double) {
    let layout = ChannelLayout(x.shape)
    let (px, pg, pgx) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: g.pointer(T.self)),
                         SendablePointer(base: gx.pointer(T.self)))
    let tp = T(p)
    parallelRanges(layout.n, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, images in
        for image in images {
            let upstream = pg.base + image * layout.inner
            for channel in 0..<layout.c {
                let offset = (image * layout.c + channel) * layout.inner
                for i in 0..<layout.inner { pgx.base[offset + i] = upstream[i] * slope(px.base[offset + i], tp) }
            }
        }
    }
}

extension Tensor {
    /// `sum_c |x_c|^p` of `[N, C, rest...]`: shape `[N, rest...]`.
    public func channelPowerSum(_ p: Double) -> Tensor {
        precondition(rank >= 2, "channelPowerSum: rank \(rank)")
        let out = Tensor(uninitializedShape: [shape[0]] + shape.dropFirst(2), dtype: dtype)
        switch dtype {
        case .float32: channelPowerSumKernel(Float.self, self, out, p: p)
        case .float64: channelPowerSumKernel(Double.self, self, out, p: p)
        }
        return out.recorded(.channelPowerSum(p), [self])
    }

    /// The gradient of `channelPowerSum` given the upstream `g` of shape `[N, rest...]`: the fused
    /// kernel when nothing records, else `g * p |x|^(p-1) sign(x)` in ops.
    static func channelPowerSumGradient(_ x: Tensor, p: Double, upstream g: Tensor) -> Tensor {
        let spread = g.reshaped([x.shape[0], 1] + x.shape.dropFirst(2))
        guard !GradMode.isRecording else {
            return spread * (p == 2 ? x * 2 : x.abs().pow(p - 1) * x.sign() * p)
        }
        let gx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        switch x.dtype {
        case .float32: channelPowerSumBackwardKernel(Float.self, x, g, gx, p: p)
        case .float64: channelPowerSumBackwardKernel(Double.self, x, g, gx, p: p)
        }
        return gx
    }
}
