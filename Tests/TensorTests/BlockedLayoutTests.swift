// Tensors kept in oneDNN's channel-blocked layout between convolutions, batch norms and
// elementwise ops (Tensor.swift's layout rule): a residual block's loss and gradients, and an
// evaluation-mode pass with its input gradient, match the reference path, which never blocks; the
// same run twice gives the same bits; a blocked tensor updated in place is read with its new values.
//
// Tolerance: the reference here is the same block in float64 on the im2col path. Both float32
// paths (reference and blocked) differ from it by rounding alone, about 1e-6 of the largest value
// for this block (batch norm divides by a standard deviation near 1); 1e-4 leaves a margin of
// about 100 for summation order, while a wrong index or a stale copy is off by order 1.
import Testing
@testable import Tensor

/// A residual block's parameters and input: `relu(bn(conv(relu(bn(conv(x))))) + x)`, 16 channels.
private struct Block {
    let x, w1, w2, gamma1, beta1, gamma2, beta2, r: Tensor

    init(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        func random(_ shape: [Int], std: Double = 1) -> Tensor {
            let t = Tensor.randomNormal(shape, std: std, generator: &generator)
            t.requiresGrad = true
            return t
        }
        x = random([4, 16, 8, 8])
        w1 = random([16, 16, 3, 3], std: 0.1)
        w2 = random([16, 16, 3, 3], std: 0.1)
        gamma1 = random([16])
        beta1 = random([16])
        gamma2 = random([16])
        beta2 = random([16])
        r = Tensor.randomNormal([4, 16, 8, 8], generator: &generator)
    }

    var parameters: [Tensor] { [x, w1, w2, gamma1, beta1, gamma2, beta2] }

    /// The loss `sum(out^2) + sum(out * r)` (the first term stays blocked, the second mixes
    /// layouts) and the gradients of every parameter, in `dtype`.
    func lossAndGradients(_ dtype: DType) -> [[Double]] {
        let leaves = parameters.map { parameter -> Tensor in
            let leaf = parameter.converted(to: dtype)
            leaf.requiresGrad = true
            return leaf
        }
        let (x, w1, w2, g1, b1, g2, b2) = (leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], leaves[6])
        let padded = ConvolutionGeometry(padding: 1)
        let h = Tensor.batchNorm(Tensor.convolution(x, w1, geometry: padded), gamma: g1, beta: b1, eps: 1e-5).output.relu()
        let y = Tensor.batchNorm(Tensor.convolution(h, w2, geometry: padded), gamma: g2, beta: b2, eps: 1e-5).output
        let out = (y + x).relu()
        let loss = out.pow(2).sum() + (out * r.converted(to: dtype)).sum()
        loss.backward()
        return [[loss.item]] + leaves.map { $0.grad!.doubles }
    }
}

/// The largest `|a - b|` over the largest `|b|`, for each pair of lists.
private func relativeErrors(_ a: [[Double]], _ b: [[Double]]) -> [Double] {
    zip(a, b).map { a, b in
        let scale = b.map(Swift.abs).max()!
        return zip(a, b).map { Swift.abs($0 - $1) }.max()! / Swift.max(scale, .leastNormalMagnitude)
    }
}

@Suite struct BlockedLayoutTests {
    @Test func aResidualBlockMatchesTheReference() {
        let block = Block(seed: 3)
        let exact = ConvolutionKernel.with(.reference) { block.lossAndGradients(.float64) }
        let blocked = ConvolutionKernel.with(.oneDNNBlocked) { block.lossAndGradients(.float32) }
        let reference = ConvolutionKernel.with(.reference) { block.lossAndGradients(.float32) }
        let names = ["loss", "x", "w1", "w2", "gamma1", "beta1", "gamma2", "beta2"]
        for (name, (blockedError, referenceError)) in zip(names, zip(relativeErrors(blocked, exact), relativeErrors(reference, exact))) {
            #expect(blockedError < 1e-4, "\(name): blocked path off by \(blockedError) of the largest value (reference path: \(referenceError))")
            #expect(referenceError < 1e-4, "\(name): reference path off by \(referenceError)")
        }
    }

    @Test func evaluationModeBatchNormAndItsInputGradientMatchTheReference() {
        // Precompute's pass: fixed statistics (a per-channel scale and shift), and the input gradient.
        let block = Block(seed: 7)
        func pass(_ dtype: DType) -> [[Double]] {
            let x = block.x.converted(to: dtype)
            x.requiresGrad = true
            let (w1, w2, r) = (block.w1.converted(to: dtype), block.w2.converted(to: dtype), block.r.converted(to: dtype))
            let (mean, variance) = (block.beta1.converted(to: dtype), (block.gamma1 * block.gamma1 + 0.5).detached.converted(to: dtype))
            let padded = ConvolutionGeometry(padding: 1)
            let h = Tensor.batchNormInference(Tensor.convolution(x, w1, geometry: padded), gamma: block.gamma2.converted(to: dtype),
                                              beta: block.beta2.converted(to: dtype), runningMean: mean, runningVariance: variance, eps: 1e-5)
            let out = Tensor.convolution(h.relu(), w2, geometry: padded)
            let loss = (out * r).sum()
            loss.backward()
            return [out.doubles, x.grad!.doubles]
        }
        let exact = ConvolutionKernel.with(.reference) { pass(.float64) }
        let blocked = ConvolutionKernel.with(.oneDNNBlocked) { pass(.float32) }
        for (name, error) in zip(["output", "input gradient"], relativeErrors(blocked, exact)) {
            #expect(error < 1e-4, "\(name) off by \(error) of the largest value")
        }
    }

    @Test func attentionMapsOfABlockedTensorMatchTheReference() {
        // sum_c y_c^2 of a convolution's blocked output, and its gradient written blocked, weighted
        // per pixel so that every position's gradient differs; past the parallel threshold, so
        // that both workers write.
        var generator = SeededGenerator(seed: 7)
        let (x, w) = (Tensor.randomNormal([16, 16, 12, 12], generator: &generator), Tensor.randomNormal([16, 16, 3, 3], std: 0.1, generator: &generator))
        let r = Tensor.randomNormal([16, 12, 12], generator: &generator)
        func pass(_ dtype: DType) -> [[Double]] {
            let (x, w) = (x.converted(to: dtype), w.converted(to: dtype))
            for leaf in [x, w] { leaf.requiresGrad = true }
            let y = Tensor.convolution(x, w, geometry: .init(padding: 1))
            if dtype == .float32 { #expect(y.isBlockedOnly, "the maps must read the convolution's blocked output") }
            let maps = y.channelPowerSum(2)
            (maps * r.converted(to: dtype)).sum().backward()
            return [maps.doubles, x.grad!.doubles, w.grad!.doubles]
        }
        let exact = ConvolutionKernel.with(.reference) { pass(.float64) }
        let blocked = ConvolutionKernel.with(.oneDNNBlocked) { pass(.float32) }
        for (name, error) in zip(["maps", "input gradient", "weight gradient"], relativeErrors(blocked, exact)) {
            #expect(error < 1e-4, "\(name): blocked path off by \(error) of the largest value")
        }
    }

    @Test func theSameRunTwiceGivesTheSameBits() {
        let block = Block(seed: 4)
        let first = ConvolutionKernel.with(.oneDNNBlocked) { block.lossAndGradients(.float32) }
        let second = ConvolutionKernel.with(.oneDNNBlocked) { block.lossAndGradients(.float32) }
        let differing = zip(first.joined(), second.joined()).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) values differ between two runs")
    }

    @Test func aBlockedTensorUpdatedInPlaceIsReadWithItsNewValues() {
        var generator = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal([2, 16, 6, 6], generator: &generator)
        let w = Tensor.randomNormal([16, 16, 3, 3], generator: &generator)
        ConvolutionKernel.with(.oneDNNBlocked) {
            let y = Tensor.convolution(x, w, geometry: .init(padding: 1))
            // The product is held blocked; reading it makes the row-major copy beside it.
            let before = y.scalars
            y.update(scaledBy: 2)
            #expect(y.scalars == before.map { 2 * $0 })
            let again = Tensor.convolution(y, w, geometry: .init(padding: 1)).scalars
            let fromCopy = Tensor.convolution(Tensor(shape: y.shape, scalars: y.scalars), w, geometry: .init(padding: 1)).scalars
            #expect(again == fromCopy, "a convolution read a stale blocked copy of an updated tensor")
        }
    }

    @Test func blockedBatchNormGivesTheReferenceStatistics() {
        var generator = SeededGenerator(seed: 6)
        let x = Tensor.randomNormal([8, 16, 5, 5], mean: 0.5, std: 2, generator: &generator)
        let w = Tensor.randomNormal([16, 16, 3, 3], std: 0.2, generator: &generator)
        let (gamma, beta) = (Tensor.ones([16]), Tensor.zeros([16]))
        func statistics() -> [[Double]] {
            let result = Tensor.batchNorm(Tensor.convolution(x, w, geometry: .init(padding: 1)), gamma: gamma, beta: beta, eps: 1e-5)
            return [result.output.doubles, result.mean.doubles, result.variance.doubles]
        }
        let blocked = ConvolutionKernel.with(.oneDNNBlocked) { statistics() }
        let reference = ConvolutionKernel.with(.reference) { statistics() }
        for (name, error) in zip(["output", "mean", "variance"], relativeErrors(blocked, reference)) {
            #expect(error < 1e-4, "\(name) off by \(error) of the largest value")
        }
    }
}
