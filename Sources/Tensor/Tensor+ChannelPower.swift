// `sum_c |x_c|^p` over the channels of `[N, C, ...]`: the attention map of activation-based
// attention transfer before normalisation. One pass forward and one backward instead of the
// composite's abs, power, sum and their derivatives over the whole feature map; a recorded
// backward uses ordinary ops, so it can be differentiated again. For p = 2 a tensor held only in
// a channel-blocked layout is read in it, and its gradient is written in it.
internal import DNNL
import Parallel

/// `|x|^p`, and its derivative `p |x|^(p-1) sign(x)`.
@inline(__always) private func magnitude<T: TensorScalar>(_ x: T, _ p: T) -> T { T.power(Swift.abs(x), p) }
@inline(__always) private func slope<T: TensorScalar>(_ x: T, _ p: T) -> T {
    x == 0 ? 0 : p * T.power(Swift.abs(x), p - 1) * (x > 0 ? 1 : -1)
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
                // p = 2 without a call to pow, in a loop of its own (so it vectorises).
                if p == 2 {
                    for i in 0..<layout.inner { row[i] += plane[i] * plane[i] }
                } else {
                    for i in 0..<layout.inner { row[i] += magnitude(plane[i], tp) }
                }
            }
        }
    }
}

/// `sum_c x_c^2` of a float32 tensor held only in `blocks`' layout, read in it: each pixel's
/// channels of one block are `blocks.size` consecutive values.
private func blockedSquareSumKernel(_ x: UnsafeMutablePointer<Float>, _ out: Tensor, layout: ChannelLayout, blocks: ChannelBlocks) {
    let (px, po) = (SendablePointer(base: x), SendablePointer(base: out.pointer(Float.self)))
    let (k, perImage) = (blocks.size, layout.c / blocks.size)
    parallelRanges(layout.n, workers: layout.n * layout.c * layout.inner >= parallelThreshold ? ComputeThreads.count : 1) { _, images in
        for image in images {
            let row = po.base + image * layout.inner
            row.update(repeating: 0, count: layout.inner)
            for block in 0..<perImage {
                let values = px.base + (image * perImage + block) * layout.inner * k
                for pixel in 0..<layout.inner {
                    var total: Float = 0
                    for lane in 0..<k { total += values[pixel * k + lane] * values[pixel * k + lane] }
                    row[pixel] += total
                }
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
                let (source, target) = (px.base + offset, pgx.base + offset)
                if p == 2 {
                    for i in 0..<layout.inner { target[i] = upstream[i] * 2 * source[i] }
                } else {
                    for i in 0..<layout.inner { target[i] = upstream[i] * slope(source[i], tp) }
                }
            }
        }
    }
}

/// `gx = 2 g x` for `x` and `gx` in `blocks`' layout, `g` row-major `[N, H*W]`.
private func blockedSquareSumBackwardKernel(_ x: UnsafeMutablePointer<Float>, _ g: Tensor, _ gx: UnsafeMutablePointer<Float>,
                                            layout: ChannelLayout, blocks: ChannelBlocks) {
    let (px, pg, pgx) = (SendablePointer(base: x), SendablePointer(base: g.pointer(Float.self)), SendablePointer(base: gx))
    let (k, perImage) = (blocks.size, layout.c / blocks.size)
    parallelRanges(layout.n, workers: layout.n * layout.c * layout.inner >= parallelThreshold ? ComputeThreads.count : 1) { _, images in
        for image in images {
            let upstream = pg.base + image * layout.inner
            for block in 0..<perImage {
                let offset = (image * perImage + block) * layout.inner * k
                for pixel in 0..<layout.inner {
                    let scale = 2 * upstream[pixel]
                    for lane in 0..<k { pgx.base[offset + pixel * k + lane] = scale * px.base[offset + pixel * k + lane] }
                }
            }
        }
    }
}

extension Tensor {
    /// `sum_c |x_c|^p` of `[N, C, rest...]`: shape `[N, rest...]`.
    public func channelPowerSum(_ p: Double) -> Tensor {
        precondition(rank >= 2, "channelPowerSum: rank \(rank)")
        let out = Tensor(uninitializedShape: [shape[0]] + shape.dropFirst(2), dtype: dtype)
        if p == 2, isBlockedOnly, let blocks = blocked?.blocks {
            blockedSquareSumKernel(blockedPointer(blocks)!, out, layout: ChannelLayout(shape), blocks: blocks)
            return out.recorded(.channelPowerSum(p), [self])
        }
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
        if p == 2, x.isBlockedOnly, let blocks = x.blocked?.blocks {
            let gx = Tensor.blockedOutput(x.shape, blocks: blocks)
            blockedSquareSumBackwardKernel(x.blockedPointer(blocks)!, g, gx.blockedPointer(blocks)!, layout: ChannelLayout(x.shape), blocks: blocks)
            return gx
        }
        let gx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        switch x.dtype {
        case .float32: channelPowerSumBackwardKernel(Float.self, x, g, gx, p: p)
        case .float64: channelPowerSumBackwardKernel(Double.self, x, g, gx, p: p)
        }
        return gx
    }
}
