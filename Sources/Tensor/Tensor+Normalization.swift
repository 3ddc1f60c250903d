// Batch normalisation over axis 1 (channels) of `[N,C,...]`, and L2 normalisation along an axis.
// Training-mode batch norm has fused kernels both ways; when the backward pass is itself recorded
// (double backpropagation) it records two ops, the input and gamma gradients, whose own
// derivatives are fused kernels too: batch norm is differentiable twice, not three times.
// Training-mode batch norm of a tensor held in a channel-blocked layout runs on oneDNN both ways
// (first order; the recorded ops for double backpropagation are the engine's own).
// Synchronised batch norm, for data-parallel training, takes its statistics over the whole batch
// split across a `ProcessGroup`, accumulating in float64; it has a first derivative only.
internal import DNNL
import Parallel

/// Per-channel layout of `[N,C,rest...]`: `n` outer blocks of `c` channels of `inner` elements;
/// around another axis, `n` is the product of the axes before it and `c` its length.
struct ChannelLayout {
    let n, c, inner: Int
    init(_ shape: [Int], axis: Int = 1) {
        (n, c) = (shape[..<axis].reduce(1, *), shape[axis])
        inner = shape[(axis + 1)...].reduce(1, *)
    }
    var perChannel: Int { n * inner }
}

/// `sum_i (x_i - m)^2` over `count` contiguous values, in eight independent partial sums.
private func sumSquaredDeviations<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ count: Int, from m: T) -> T {
    var acc = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
    var i = 0
    while i + 8 <= count {
        let d = (x[i] - m, x[i + 1] - m, x[i + 2] - m, x[i + 3] - m, x[i + 4] - m, x[i + 5] - m, x[i + 6] - m, x[i + 7] - m)
        acc.0 += d.0 * d.0; acc.1 += d.1 * d.1; acc.2 += d.2 * d.2; acc.3 += d.3 * d.3
        acc.4 += d.4 * d.4; acc.5 += d.5 * d.5; acc.6 += d.6 * d.6; acc.7 += d.7 * d.7
        i += 8
    }
    var tail = T(0)
    while i < count { let d = x[i] - m; tail += d * d; i += 1 }
    return ((acc.0 + acc.1) + (acc.2 + acc.3)) + ((acc.4 + acc.5) + (acc.6 + acc.7)) + tail
}

/// `sum_i g_i (x_i - m)` over `count` contiguous values, in eight independent partial sums.
private func sumProductsWithDeviations<T: TensorScalar>(_ g: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>, _ count: Int,
                                                          from m: T) -> T {
    var acc = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
    var i = 0
    while i + 8 <= count {
        acc.0 += g[i] * (x[i] - m); acc.1 += g[i + 1] * (x[i + 1] - m); acc.2 += g[i + 2] * (x[i + 2] - m); acc.3 += g[i + 3] * (x[i + 3] - m)
        acc.4 += g[i + 4] * (x[i + 4] - m); acc.5 += g[i + 5] * (x[i + 5] - m); acc.6 += g[i + 6] * (x[i + 6] - m); acc.7 += g[i + 7] * (x[i + 7] - m)
        i += 8
    }
    var tail = T(0)
    while i < count { tail += g[i] * (x[i] - m); i += 1 }
    return ((acc.0 + acc.1) + (acc.2 + acc.3)) + ((acc.4 + acc.5) + (acc.6 + acc.7)) + tail
}

private func batchNormForwardKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ gamma: Tensor, _ beta: Tensor, _ out: Tensor,
                                                     _ mean: Tensor, _ invstd: Tensor, _ variance: Tensor, eps: Double) {
    let layout = ChannelLayout(x.shape)
    let (px, po) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: out.pointer(T.self)))
    let (pg, pb) = (SendablePointer(base: gamma.pointer(T.self)), SendablePointer(base: beta.pointer(T.self)))
    let (pm, pi, pv) = (SendablePointer(base: mean.pointer(T.self)), SendablePointer(base: invstd.pointer(T.self)),
                        SendablePointer(base: variance.pointer(T.self)))
    parallelRanges(layout.c, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, channels in
        for channel in channels {
            var total = T(0)
            for block in 0..<layout.n { total += sumStrided(px.base + (block * layout.c + channel) * layout.inner, layout.inner, 1) }
            let m = total / T(layout.perChannel)
            var squares = T(0)
            for block in 0..<layout.n { squares += sumSquaredDeviations(px.base + (block * layout.c + channel) * layout.inner, layout.inner, from: m) }
            let v = squares / T(layout.perChannel)
            let inv = 1 / (v + T(eps)).squareRoot()
            let (scale, shift) = (pg.base[channel] * inv, pb.base[channel] - pg.base[channel] * inv * m)
            for block in 0..<layout.n {
                let offset = (block * layout.c + channel) * layout.inner
                for i in 0..<layout.inner { po.base[offset + i] = px.base[offset + i] * scale + shift }
            }
            (pm.base[channel], pi.base[channel], pv.base[channel]) = (m, inv, v)
        }
    }
}

/// One channel's sums over `[N,C,...]` of g, g·x̂ and, when `u` is given, u, u·x̂ and u·g (else
/// zero), where x̂ = (x - mean) * invstd: the moments of batch norm's backward (g's) and of its
/// second derivatives (all five).
private func channelMoments<T: TensorScalar>(_ layout: ChannelLayout, _ x: SendablePointer<T>, _ g: SendablePointer<T>,
                                            _ u: SendablePointer<T>?, mean: SendablePointer<T>, invstd: SendablePointer<T>,
                                            channel: Int) -> (g: T, gx: T, u: T, ux: T, ug: T) {
    let (m, inv) = (mean.base[channel], invstd.base[channel])
    var (sg, sgx, su, sux, sug) = (T(0), T(0), T(0), T(0), T(0))
    for block in 0..<layout.n {
        let offset = (block * layout.c + channel) * layout.inner
        let (px, pg) = (x.base + offset, g.base + offset)
        sg += sumStrided(pg, layout.inner, 1)
        sgx += sumProductsWithDeviations(pg, px, layout.inner, from: m) * inv
        if let u {
            let pu = u.base + offset
            su += sumStrided(pu, layout.inner, 1)
            sux += sumProductsWithDeviations(pu, px, layout.inner, from: m) * inv
            sug += sumProductsWithDeviations(pu, pg, layout.inner, from: 0)
        }
    }
    return (sg, sgx, su, sux, sug)
}

private func batchNormBackwardKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: Tensor, _ gamma: Tensor, _ mean: Tensor,
                                                      _ invstd: Tensor, _ gx: Tensor, _ ggamma: Tensor, _ gbeta: Tensor) {
    let layout = ChannelLayout(x.shape)
    let (px, pgrad, pgx) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: g.pointer(T.self)),
                            SendablePointer(base: gx.pointer(T.self)))
    let (pgamma, pm, pi) = (SendablePointer(base: gamma.pointer(T.self)), SendablePointer(base: mean.pointer(T.self)),
                            SendablePointer(base: invstd.pointer(T.self)))
    let (pgg, pgb) = (SendablePointer(base: ggamma.pointer(T.self)), SendablePointer(base: gbeta.pointer(T.self)))
    parallelRanges(layout.c, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, channels in
        for channel in channels {
            let (m, inv) = (pm.base[channel], pi.base[channel])
            let sums = channelMoments(layout, px, pgrad, nil, mean: pm, invstd: pi, channel: channel)
            let (sumG, sumGX) = (sums.g, sums.gx)
            let count = T(layout.perChannel)
            let scale = pgamma.base[channel] * inv
            let (meanG, meanGX) = (sumG / count, sumGX / count)
            for block in 0..<layout.n {
                let offset = (block * layout.c + channel) * layout.inner
                for i in 0..<layout.inner {
                    let xhat = (px.base[offset + i] - m) * inv
                    pgx.base[offset + i] = scale * (pgrad.base[offset + i] - meanG - xhat * meanGX)
                }
            }
            (pgg.base[channel], pgb.base[channel]) = (sumGX, sumG)
        }
    }
}

/// The derivative of batch norm's input gradient `gx = gamma s (g - mean(g) - x̂ mean(g x̂))`
/// (s = invstd, per channel) against upstream `u`: with B = mean(g x̂), C = mean(u x̂),
/// E = mean(u g), d/dx = -gamma s^2 (x̂ (E - mean(u) mean(g) - 3BC) + C (g - mean(g)) + B (u - mean(u))),
/// d/dg = gamma s (u - mean(u) - x̂ C), d/dgamma = s M (E - mean(u) mean(g) - BC), M elements per channel.
private func batchNormInputGradientVJPKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: Tensor, _ u: Tensor, _ gamma: Tensor,
                                                              _ mean: Tensor, _ invstd: Tensor,
                                                              _ dx: Tensor, _ dg: Tensor, _ dgamma: Tensor) {
    let layout = ChannelLayout(x.shape)
    let (px, pg, pu) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: g.pointer(T.self)), SendablePointer(base: u.pointer(T.self)))
    let (pm, pi, pgamma) = (SendablePointer(base: mean.pointer(T.self)), SendablePointer(base: invstd.pointer(T.self)),
                            SendablePointer(base: gamma.pointer(T.self)))
    let (pdx, pdg, pdgamma) = (SendablePointer(base: dx.pointer(T.self)), SendablePointer(base: dg.pointer(T.self)),
                               SendablePointer(base: dgamma.pointer(T.self)))
    parallelRanges(layout.c, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, channels in
        for channel in channels {
            let sums = channelMoments(layout, px, pg, pu, mean: pm, invstd: pi, channel: channel)
            let count = T(layout.perChannel)
            let (meanG, b, meanU, c, e) = (sums.g / count, sums.gx / count, sums.u / count, sums.ux / count, sums.ug / count)
            let (m, inv, gm) = (pm.base[channel], pi.base[channel], pgamma.base[channel])
            let k = e - meanU * meanG - 3 * b * c
            let (xScale, gScale) = (-gm * inv * inv, gm * inv)
            for block in 0..<layout.n {
                let offset = (block * layout.c + channel) * layout.inner
                for i in 0..<layout.inner {
                    let (xhat, gi, ui) = ((px.base[offset + i] - m) * inv, pg.base[offset + i], pu.base[offset + i])
                    pdx.base[offset + i] = xScale * (xhat * k + c * (gi - meanG) + b * (ui - meanU))
                    pdg.base[offset + i] = gScale * (ui - meanU - xhat * c)
                }
            }
            pdgamma.base[channel] = inv * count * (e - meanU * meanG - b * c)
        }
    }
}

/// The derivative of batch norm's gamma gradient `sum(g x̂)` against per-channel upstream `w`:
/// d/dg = w x̂, d/dx = w s (g - mean(g) - x̂ mean(g x̂)).
private func batchNormGammaGradientVJPKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ g: Tensor, _ w: Tensor, _ mean: Tensor,
                                                              _ invstd: Tensor, _ dx: Tensor, _ dg: Tensor) {
    let layout = ChannelLayout(x.shape)
    let (px, pg, pw) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: g.pointer(T.self)), SendablePointer(base: w.pointer(T.self)))
    let (pm, pi) = (SendablePointer(base: mean.pointer(T.self)), SendablePointer(base: invstd.pointer(T.self)))
    let (pdx, pdg) = (SendablePointer(base: dx.pointer(T.self)), SendablePointer(base: dg.pointer(T.self)))
    parallelRanges(layout.c, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, channels in
        for channel in channels {
            let sums = channelMoments(layout, px, pg, nil, mean: pm, invstd: pi, channel: channel)
            let count = T(layout.perChannel)
            let (meanG, b) = (sums.g / count, sums.gx / count)
            let (m, inv, wc) = (pm.base[channel], pi.base[channel], pw.base[channel])
            for block in 0..<layout.n {
                let offset = (block * layout.c + channel) * layout.inner
                for i in 0..<layout.inner {
                    let (xhat, gi) = ((px.base[offset + i] - m) * inv, pg.base[offset + i])
                    pdx.base[offset + i] = wc * inv * (gi - meanG - xhat * b)
                    pdg.base[offset + i] = wc * xhat
                }
            }
        }
    }
}

/// Per-channel sums in float64 over `[N,C,...]` of `term(channel, offset)` for every element offset
/// of the channel, channels split over the compute threads.
private func channelSums(_ layout: ChannelLayout, parallel: Bool, _ term: @Sendable (_ channel: Int, _ offset: Int) -> Double) -> [Double] {
    var sums = [Double](repeating: 0, count: layout.c)
    sums.withUnsafeMutableBufferPointer { buffer in
        let result = SendablePointer(base: buffer.baseAddress!)
        parallelRanges(layout.c, workers: parallel ? ComputeThreads.count : 1) { _, channels in
            for channel in channels {
                var total = 0.0
                for block in 0..<layout.n {
                    let offset = (block * layout.c + channel) * layout.inner
                    for i in 0..<layout.inner { total += term(channel, offset + i) }
                }
                result.base[channel] = total
            }
        }
    }
    return sums
}

private func synchronizedBatchNormForwardKernel<T: TensorScalar>(
    _: T.Type, _ x: Tensor, _ gamma: Tensor, _ beta: Tensor, _ out: Tensor, _ mean: Tensor, _ invstd: Tensor, _ variance: Tensor,
    eps: Double, group: any ProcessGroup
) -> Int {
    let layout = ChannelLayout(x.shape)
    let parallel = x.count >= parallelThreshold
    let px = SendablePointer(base: x.pointer(T.self))
    var totals = channelSums(layout, parallel: parallel) { _, offset in Double(px.base[offset]) } + [Double(layout.perChannel)]
    totals.withUnsafeMutableBufferPointer { group.sum($0) }
    let count = totals[layout.c]
    let means = totals.prefix(layout.c).map { $0 / count }
    var squares = channelSums(layout, parallel: parallel) { channel, offset in
        let d = Double(px.base[offset]) - means[channel]
        return d * d
    }
    squares.withUnsafeMutableBufferPointer { group.sum($0) }
    let (po, pg, pb) = (out.pointer(T.self), gamma.pointer(T.self), beta.pointer(T.self))
    let (pm, pi, pv) = (mean.pointer(T.self), invstd.pointer(T.self), variance.pointer(T.self))
    for channel in 0..<layout.c {
        let v = squares[channel] / count
        let inv = 1 / (v + eps).squareRoot()
        let scale = Double(pg[channel]) * inv, shift = Double(pb[channel]) - Double(pg[channel]) * inv * means[channel]
        let (s, b) = (T(scale), T(shift))
        for block in 0..<layout.n {
            let offset = (block * layout.c + channel) * layout.inner
            for i in 0..<layout.inner { po[offset + i] = px.base[offset + i] * s + b }
        }
        (pm[channel], pi[channel], pv[channel]) = (T(means[channel]), T(inv), T(v))
    }
    return Int(count)
}

private func synchronizedBatchNormBackwardKernel<T: TensorScalar>(
    _: T.Type, _ x: Tensor, _ g: Tensor, _ gamma: Tensor, _ mean: Tensor, _ invstd: Tensor, _ gx: Tensor, _ ggamma: Tensor,
    _ gbeta: Tensor, count: Int, group: any ProcessGroup
) {
    let layout = ChannelLayout(x.shape)
    let parallel = x.count >= parallelThreshold
    let (px, pgrad) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: g.pointer(T.self)))
    let (pm, pi) = (SendablePointer(base: mean.pointer(T.self)), SendablePointer(base: invstd.pointer(T.self)))
    let localG = channelSums(layout, parallel: parallel) { _, offset in Double(pgrad.base[offset]) }
    let localGX = channelSums(layout, parallel: parallel) { channel, offset in
        Double(pgrad.base[offset]) * Double(px.base[offset] - pm.base[channel]) * Double(pi.base[channel])
    }
    // This process's share of the parameter gradients (the caller sums those with the others);
    // the input gradient needs the whole batch's sums.
    var sums = localG + localGX
    sums.withUnsafeMutableBufferPointer { group.sum($0) }
    let (pgx, pgamma, pgg, pgb) = (gx.pointer(T.self), gamma.pointer(T.self), ggamma.pointer(T.self), gbeta.pointer(T.self))
    for channel in 0..<layout.c {
        let (m, inv) = (pm.base[channel], pi.base[channel])
        let scale = pgamma[channel] * inv
        let (meanG, meanGX) = (T(sums[channel] / Double(count)), T(sums[layout.c + channel] / Double(count)))
        for block in 0..<layout.n {
            let offset = (block * layout.c + channel) * layout.inner
            for i in 0..<layout.inner {
                let xhat = (px.base[offset + i] - m) * inv
                pgx[offset + i] = scale * (pgrad.base[offset + i] - meanG - xhat * meanGX)
            }
        }
        (pgg[channel], pgb[channel]) = (T(localGX[channel]), T(localG[channel]))
    }
}

/// The processes a synchronised batch norm reduced over, and the whole batch's elements per channel.
struct SynchronizedStatistics {
    let group: any ProcessGroup
    let count: Int
}

extension Tensor {
    /// Training-mode batch norm of `[N,C,...]` whose statistics are those of the whole batch split
    /// over `group` (each process holds its `[n_r,C,...]`): sums and squared deviations are
    /// accumulated in float64 and summed across the processes. Returns the output, the whole
    /// batch's mean and (biased) variance, and its elements per channel (for the unbiased running
    /// variance). Its backward pass sums the gradient statistics across the processes too; it has
    /// no second derivative.
    public static func synchronizedBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, eps: Double, group: any ProcessGroup)
        -> (output: Tensor, mean: Tensor, variance: Tensor, count: Int) {
        let (out, mean, invstd, variance) = batchNormBuffers(x, gamma: gamma, beta: beta)
        let count = switch x.dtype {
        case .float32: synchronizedBatchNormForwardKernel(Float.self, x, gamma, beta, out, mean, invstd, variance, eps: eps, group: group)
        case .float64: synchronizedBatchNormForwardKernel(Double.self, x, gamma, beta, out, mean, invstd, variance, eps: eps, group: group)
        }
        out.recorded(.synchronizedBatchNorm(SynchronizedStatistics(group: group, count: count)), [x, gamma, beta], saved: [mean, invstd])
        return (out, mean, variance, count)
    }

    /// The output `[N,C,...]` and the per-channel mean, inverse deviation and variance `[C]` of a
    /// training-mode batch norm of `x`, once its shapes are checked.
    private static func batchNormBuffers(_ x: Tensor, gamma: Tensor, beta: Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
        precondition(x.rank >= 2 && gamma.shape == [x.shape[1]] && beta.shape == [x.shape[1]],
                     "batch norm of \(x.shape) with gamma \(gamma.shape) and beta \(beta.shape)")
        let perChannel = { Tensor(uninitializedShape: [x.shape[1]], dtype: x.dtype) }
        return (Tensor(uninitializedShape: x.shape, dtype: x.dtype), perChannel(), perChannel(), perChannel())
    }

    /// The synchronised batch norm's backward: this process's gradients for x, gamma and beta.
    static func synchronizedBatchNormBackward(_ x: Tensor, _ g: Tensor, gamma: Tensor, mean: Tensor, invstd: Tensor,
                                              statistics: SynchronizedStatistics) -> (Tensor, Tensor, Tensor) {
        let gx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let ggamma = Tensor(uninitializedShape: gamma.shape, dtype: x.dtype)
        let gbeta = Tensor(uninitializedShape: gamma.shape, dtype: x.dtype)
        let (count, group) = (statistics.count, statistics.group)
        switch x.dtype {
        case .float32: synchronizedBatchNormBackwardKernel(Float.self, x, g, gamma, mean, invstd, gx, ggamma, gbeta, count: count, group: group)
        case .float64: synchronizedBatchNormBackwardKernel(Double.self, x, g, gamma, mean, invstd, gx, ggamma, gbeta, count: count, group: group)
        }
        return (gx, ggamma, gbeta)
    }

    /// Training-mode batch norm of `[N,C,...]` with batch statistics over every axis but 1:
    /// `gamma * (x - mean) / sqrt(var + eps) + beta`. Returns the output and the batch mean and
    /// (biased) variance, for the running averages.
    /// An `x` held in a channel-blocked layout runs on oneDNN and gives its output in that layout.
    public static func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, eps: Double) -> (output: Tensor, mean: Tensor, variance: Tensor) {
        let (out, mean, invstd, variance): (Tensor, Tensor, Tensor, Tensor)
        if let blocked = blockedBatchNorm(x, gamma: gamma, beta: beta, eps: eps) {
            (out, mean, invstd, variance) = blocked
        } else {
            (out, mean, invstd, variance) = batchNormBuffers(x, gamma: gamma, beta: beta)
            switch x.dtype {
            case .float32: batchNormForwardKernel(Float.self, x, gamma, beta, out, mean, invstd, variance, eps: eps)
            case .float64: batchNormForwardKernel(Double.self, x, gamma, beta, out, mean, invstd, variance, eps: eps)
            }
        }
        out.recorded(.batchNorm(eps: eps), [x, gamma, beta], saved: [mean, invstd, variance])
        return (out, mean, variance)
    }

    /// oneDNN's batch norm runs on one thread. Its multi-threaded kernels meet at spinning
    /// barriers: on 2 threads, with another process busy on the same 2 cores, its forward pass took
    /// 10-40 times as long as on one (`ONEDNN_VERBOSE=1 kdbench engine`, resnet8, AMD EPYC Zen 3),
    /// and one thread of it was still faster than the engine's own kernel on two.
    private static let batchNormThreads = 1

    /// oneDNN's batch norm for a float32 `x` `[N,C,H,W]` held in a channel-blocked layout, with a
    /// float32 `gamma` `[C]`, and that layout; nil for any other `x`, or when oneDNN cannot make
    /// the primitive (said once).
    private static func blockedPrimitive(_ x: Tensor, gamma: Tensor, eps: Double) -> (BatchNormPrimitive, ChannelBlocks)? {
        guard x.dtype == .float32, gamma.dtype == .float32, x.rank == 4, let blocks = x.blocked?.blocks, gamma.shape == [x.shape[1]] else { return nil }
        do {
            return (try BatchNormPrimitive.cached(dims: x.shape, blocks: blocks, eps: Float(eps), threads: batchNormThreads), blocks)
        } catch {
            DNNLFailures.shared.report(error, fallback: "using the engine's batch norm for \(x.shape)")
            return nil
        }
    }

    /// `gamma` and `beta` `[C]` as oneDNN's `[2,C]` scale-and-shift rows.
    private static func scaleShift(_ gamma: Tensor, _ beta: Tensor) -> Tensor {
        let rows = Tensor(uninitializedShape: [2, gamma.count], dtype: .float32)
        rows.pointer(Float.self).update(from: gamma.pointer(Float.self), count: gamma.count)
        (rows.pointer(Float.self) + gamma.count).update(from: beta.pointer(Float.self), count: gamma.count)
        return rows
    }

    /// The forward pass on oneDNN for a float32 `x` held in a channel-blocked layout: output (same
    /// layout), mean, invstd and variance; nil for any other `x`, or when oneDNN fails (said once).
    private static func blockedBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, eps: Double) -> (Tensor, Tensor, Tensor, Tensor)? {
        guard beta.dtype == .float32, beta.shape == gamma.shape, let (primitive, blocks) = blockedPrimitive(x, gamma: gamma, eps: eps) else { return nil }
        let (mean, variance) = (Tensor(uninitializedShape: gamma.shape, dtype: .float32), Tensor(uninitializedShape: gamma.shape, dtype: .float32))
        let out = Tensor.blockedOutput(x.shape, blocks: blocks)
        // Held in a name for the call: a temporary's memory may go back to the pool before oneDNN reads it.
        let weights = scaleShift(gamma, beta)
        do {
            try withExtendedLifetime(weights) {
                try primitive.forward(x.blockedPointer(blocks)!, scaleShift: weights.pointer(Float.self),
                                      into: out.blockedPointer(blocks)!, mean: mean.pointer(Float.self), variance: variance.pointer(Float.self))
            }
        } catch {
            DNNLFailures.shared.report(error, fallback: "using the engine's batch norm for \(x.shape)")
            return nil
        }
        let invstd = (variance + eps).pow(-0.5)
        return (out, mean, invstd, variance)
    }

    /// The backward pass on oneDNN when the forward ran there (`x` blocked, its `variance` saved):
    /// gradients for x (blocked), gamma and beta; nil otherwise.
    private static func blockedBatchNormBackward(_ x: Tensor, _ g: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor?,
                                                 eps: Double?) -> (Tensor, Tensor, Tensor)? {
        guard let variance, let eps, g.shape == x.shape, let (primitive, blocks) = blockedPrimitive(x, gamma: gamma, eps: eps) else { return nil }
        let gx = Tensor.blockedOutput(x.shape, blocks: blocks)
        let gradients = Tensor(uninitializedShape: [2, gamma.count], dtype: .float32)
        // The backward pass reads only the scale row; gamma stands in for the shift.
        let weights = scaleShift(gamma, gamma)
        do {
            try withExtendedLifetime(weights) {
                try primitive.backward(x.blockedPointer(blocks)!, g.blockedValues(blocks), scaleShift: weights.pointer(Float.self),
                                       mean: mean.pointer(Float.self), variance: variance.pointer(Float.self),
                                       into: gx.blockedPointer(blocks)!, gScaleShift: gradients.pointer(Float.self))
            }
        } catch {
            DNNLFailures.shared.report(error, fallback: "using the engine's batch-norm backward for \(x.shape)")
            return nil
        }
        let rows = gradients.pointer(Float.self)
        let (ggamma, gbeta) = (Tensor(uninitializedShape: gamma.shape, dtype: .float32), Tensor(uninitializedShape: gamma.shape, dtype: .float32))
        ggamma.pointer(Float.self).update(from: rows, count: gamma.count)
        gbeta.pointer(Float.self).update(from: rows + gamma.count, count: gamma.count)
        return (gx, ggamma, gbeta)
    }

    /// The fused first-order batch-norm backward: gradients for x, gamma and beta. With the
    /// forward's `variance` and `eps`, an `x` held blocked runs on oneDNN.
    static func batchNormBackward(_ x: Tensor, _ g: Tensor, gamma: Tensor, mean: Tensor, invstd: Tensor,
                                  variance: Tensor? = nil, eps: Double? = nil) -> (Tensor, Tensor, Tensor) {
        if let blocked = blockedBatchNormBackward(x, g, gamma: gamma, mean: mean, variance: variance, eps: eps) { return blocked }
        let gx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let ggamma = Tensor(uninitializedShape: gamma.shape, dtype: x.dtype)
        let gbeta = Tensor(uninitializedShape: gamma.shape, dtype: x.dtype)
        switch x.dtype {
        case .float32: batchNormBackwardKernel(Float.self, x, g, gamma, mean, invstd, gx, ggamma, gbeta)
        case .float64: batchNormBackwardKernel(Double.self, x, g, gamma, mean, invstd, gx, ggamma, gbeta)
        }
        return (gx, ggamma, gbeta)
    }

    /// Batch norm's input gradient `gamma s (g - mean(g) - x̂ mean(g x̂))` (x's shape) and gamma
    /// gradient `sum(g x̂)` over every axis but 1 (`[C]`), for `x` `[N,C,...]`, upstream `g` of x's
    /// shape, `gamma` `[C]` and the forward's saved `mean` and `invstd` `[C]`: one fused kernel, its
    /// two results recorded as ops that can be differentiated once more (double backpropagation).
    public static func batchNormGradients(_ x: Tensor, _ g: Tensor, gamma: Tensor, mean: Tensor,
                                          invstd: Tensor) -> (input: Tensor, gamma: Tensor) {
        let (gx, ggamma, _) = GradMode.withoutGrad { batchNormBackward(x, g, gamma: gamma, mean: mean, invstd: invstd) }
        return (gx.recorded(.batchNormInputGradient, [x, g, gamma], saved: [mean, invstd]),
                ggamma.recorded(.batchNormGammaGradient, [x, g], saved: [mean, invstd]))
    }

    /// The gradients of `batchNormGradients(x, g, gamma, ...).input` against upstream `u`: for x, g, gamma.
    static func batchNormInputGradientVJP(_ x: Tensor, _ g: Tensor, _ u: Tensor, gamma: Tensor, mean: Tensor,
                                          invstd: Tensor) -> (Tensor, Tensor, Tensor) {
        let (dx, dg) = (Tensor(uninitializedShape: x.shape, dtype: x.dtype), Tensor(uninitializedShape: x.shape, dtype: x.dtype))
        let dgamma = Tensor(uninitializedShape: gamma.shape, dtype: x.dtype)
        switch x.dtype {
        case .float32: batchNormInputGradientVJPKernel(Float.self, x, g, u, gamma, mean, invstd, dx, dg, dgamma)
        case .float64: batchNormInputGradientVJPKernel(Double.self, x, g, u, gamma, mean, invstd, dx, dg, dgamma)
        }
        return (dx, dg, dgamma)
    }

    /// The gradients of `batchNormGradients(x, g, ...).gamma` against per-channel upstream `w`: for x and g.
    static func batchNormGammaGradientVJP(_ x: Tensor, _ g: Tensor, _ w: Tensor, mean: Tensor, invstd: Tensor) -> (Tensor, Tensor) {
        let (dx, dg) = (Tensor(uninitializedShape: x.shape, dtype: x.dtype), Tensor(uninitializedShape: x.shape, dtype: x.dtype))
        switch x.dtype {
        case .float32: batchNormGammaGradientVJPKernel(Float.self, x, g, w, mean, invstd, dx, dg)
        case .float64: batchNormGammaGradientVJPKernel(Double.self, x, g, w, mean, invstd, dx, dg)
        }
        return (dx, dg)
    }

    /// `[1,C,1,...]`: a per-channel vector shaped to broadcast against `[N,C,...]` of `rank`.
    public func channelShaped(rank: Int) -> Tensor {
        reshaped([1, count] + [Int](repeating: 1, count: Swift.max(0, rank - 2)))
    }

    /// Evaluation-mode batch norm with fixed statistics: `(x - mean) * gamma / sqrt(var + eps) + beta`.
    public static func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor,
                                          runningVariance: Tensor, eps: Double) -> Tensor {
        let scale = gamma * (runningVariance.detached + eps).pow(-0.5)
        let shift = beta - runningMean.detached * scale
        return x * scale.channelShaped(rank: x.rank) + shift.channelShaped(rank: x.rank)
    }
}
