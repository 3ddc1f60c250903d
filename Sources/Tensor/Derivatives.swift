// The derivative table: for every primitive op, the gradients of its inputs given the gradient
// `g` of its output, written with tensor ops only. Recording these ops (createGraph) therefore
// gives exact second derivatives. The fused backward kernels (margin squares, channel power sums,
// squared distances, L2 normalisation, noise contrast) are used only when nothing records them; a
// recorded backward uses the composite formula instead. Batch norm's recorded backward is two ops
// of its own (input and gamma gradients) with fused derivatives: exact second derivatives, no third.

/// A primitive op as recorded in the graph, with what its derivative needs.
enum Op {
    case add, subtract, multiply, divide, negate
    case exp, log, sqrt, abs, relu, relu6
    /// `g` where `input > 0`, else 0 (ReLU's backward pass as one op): inputs `[g, input]`.
    case reluGradient
    case power(Double)
    case clamp(Double, Double)
    case sum, max, expand, reshape
    case permute([Int])
    case slice(lower: [Int])
    case pad(before: [Int])
    case concat(axis: Int)
    case flip(axes: [Int])
    case matmul(transposeA: Bool, transposeB: Bool)
    case convolution(ConvolutionGeometry)
    case convolutionInputGradient(ConvolutionGeometry)
    case convolutionWeightGradient(ConvolutionGeometry)
    case gather(IndexList)
    case scatterAdd(IndexList)
    case batchNorm(eps: Double)
    case batchNormInputGradient, batchNormGammaGradient
    case synchronizedBatchNorm(SynchronizedStatistics)
    case marginSquares(Double)
    case channelPowerSum(Double)
    /// `sum (a - b)^2`: inputs `[a, b]`.
    case squaredDistance
    /// `x / max(||x||, eps)` along `axis`; saved: the norms.
    case l2Normalize(axis: Int, eps: Double)
    case noiseContrast(NoiseContrast)
}

enum Derivatives {
    /// The vector-Jacobian products of `node` (one per input; nil where not needed).
    static func vjp(_ node: Node, output: Tensor, grad g: Tensor) -> [Tensor?] {
        let inputs = node.inputs
        let a = inputs[0]
        func needed(_ index: Int) -> Bool { inputs[index].requiresGrad }

        switch node.op {
        case .add:
            return [needed(0) ? g.summed(to: a.shape) : nil, needed(1) ? g.summed(to: inputs[1].shape) : nil]
        case .subtract:
            return [needed(0) ? g.summed(to: a.shape) : nil, needed(1) ? (-g).summed(to: inputs[1].shape) : nil]
        case .multiply:
            let b = inputs[1]
            return [needed(0) ? (g * b).summed(to: a.shape) : nil, needed(1) ? (g * a).summed(to: b.shape) : nil]
        case .divide:
            let b = inputs[1]
            return [needed(0) ? (g / b).summed(to: a.shape) : nil, needed(1) ? (-(g * output) / b).summed(to: b.shape) : nil]
        case .negate:
            return [-g]
        case .exp:
            return [g * output]
        case .log:
            return [g / a]
        case .sqrt:
            return [g * 0.5 / output]
        case .abs:
            return [g * a.sign()]
        case .relu:
            return [Tensor.reluGradient(g, input: a)]
        case .reluGradient:
            // Linear in g; the mask is piecewise constant in the input, so no gradient flows to it.
            return [needed(0) ? Tensor.reluGradient(g, input: inputs[1]) : nil, nil]
        case .relu6:
            return [g * a.between(0, 6)]
        case .power(let p):
            return [p == 1 ? g : p == 2 ? g * (a * 2) : g * (a.pow(p - 1) * p)]
        case .clamp(let low, let high):
            return [g * a.inside(low, high)]
        case .sum:
            return [g.expanded(to: a.shape)]
        case .max:
            // Ties share the gradient equally.
            let mask = a.equal(output.detached)
            return [g.expanded(to: a.shape) * (mask / mask.summed(to: output.shape))]
        case .expand:
            return [g.summed(to: a.shape)]
        case .reshape:
            return [g.reshaped(a.shape)]
        case .permute(let order):
            var inverse = order
            for (position, axis) in order.enumerated() { inverse[axis] = position }
            return [g.permuted(inverse)]
        case .slice(let lower):
            let after = a.shape.indices.map { a.shape[$0] - lower[$0] - output.shape[$0] }
            return [g.padded(before: lower, after: after)]
        case .pad(let before):
            return [g.sliced(lower: before, upper: a.shape.indices.map { before[$0] + a.shape[$0] })]
        case .concat(let axis):
            var offset = 0
            return inputs.map { input in
                defer { offset += input.shape[axis] }
                return input.requiresGrad ? g.sliced(axis: axis, offset..<(offset + input.shape[axis])) : nil
            }
        case .flip(let axes):
            return [g.flipped(axes: axes)]
        case .matmul(let ta, let tb):
            let b = inputs[1]
            let ga = !needed(0) ? nil : ta ? Tensor.matmul(b, g, transposeA: tb, transposeB: true)
                                           : Tensor.matmul(g, b, transposeB: !tb)
            let gb = !needed(1) ? nil : tb ? Tensor.matmul(g, a, transposeA: true, transposeB: ta)
                                           : Tensor.matmul(a, g, transposeA: !ta)
            return [ga, gb]
        case .convolution(let geometry):
            let w = inputs[1]
            return [needed(0) ? Tensor.convolutionInputGradient(g, w, inputShape: a.shape, geometry: geometry) : nil,
                    needed(1) ? Tensor.convolutionWeightGradient(a, g, weightShape: w.shape, geometry: geometry) : nil]
        case .convolutionInputGradient(let geometry):
            // output = J_x^T a for weight w; linear in a and in w.
            let w = inputs[1]
            return [needed(0) ? Tensor.convolution(g, w, geometry: geometry) : nil,
                    needed(1) ? Tensor.convolutionWeightGradient(g, a, weightShape: w.shape, geometry: geometry) : nil]
        case .convolutionWeightGradient(let geometry):
            // output = J_w^T upstream for input a; linear in a and in upstream.
            let upstream = inputs[1]
            return [needed(0) ? Tensor.convolutionInputGradient(upstream, g, inputShape: a.shape, geometry: geometry) : nil,
                    needed(1) ? Tensor.convolution(a, g, geometry: geometry) : nil]
        case .gather(let indices):
            return [g.scatterAdded(indices, shape: a.shape)]
        case .scatterAdd(let indices):
            return [g.gathered(indices, shape: a.shape)]
        case .batchNorm(let eps):
            return batchNormVJP(inputs, saved: node.saved, eps: eps, g: g)
        case .batchNormInputGradient:
            precondition(!GradMode.isRecording, "batch norm is differentiable twice, not three times")
            let (dx, dg, dgamma) = Tensor.batchNormInputGradientVJP(a, inputs[1], g, gamma: inputs[2], mean: node.saved[0], invstd: node.saved[1])
            return [needed(0) ? dx : nil, needed(1) ? dg : nil, needed(2) ? dgamma : nil]
        case .batchNormGammaGradient:
            precondition(!GradMode.isRecording, "batch norm is differentiable twice, not three times")
            let (dx, dg) = Tensor.batchNormGammaGradientVJP(a, inputs[1], g, mean: node.saved[0], invstd: node.saved[1])
            return [needed(0) ? dx : nil, needed(1) ? dg : nil]
        case .synchronizedBatchNorm(let statistics):
            // Data-parallel students refuse terms that differentiate twice (DataParallelPlan).
            precondition(!GradMode.isRecording, "synchronised batch norm has no second derivative")
            let (gx, ggamma, gbeta) = Tensor.synchronizedBatchNormBackward(inputs[0], g, gamma: inputs[1], mean: node.saved[0],
                                                                           invstd: node.saved[1], statistics: statistics)
            return [needed(0) ? gx : nil, needed(1) ? ggamma : nil, needed(2) ? gbeta : nil]
        case .marginSquares(let margin):
            return [Tensor.marginSquaresGradient(a, mask: inputs[1], margin: margin, upstream: g), nil]
        case .channelPowerSum(let p):
            return [Tensor.channelPowerSumGradient(a, p: p, upstream: g)]
        case .squaredDistance:
            let ga = needed(0) || needed(1) ? Tensor.squaredDistanceGradient(a, inputs[1], upstream: g) : nil
            return [needed(0) ? ga : nil, needed(1) ? ga.map { -$0 } : nil]
        case .l2Normalize(let axis, let eps):
            return [Tensor.l2NormalizedGradient(a, output: output, norms: node.saved[0], axis: axis, eps: eps, upstream: g)]
        case .noiseContrast(let constants):
            return [Tensor.noiseContrastGradient(a, constants, factor: node.saved[0], upstream: g)]
        }
    }

    /// Batch norm's gradients: the fused kernel when nothing records, else the input and gamma
    /// gradients as recorded ops of their own (differentiable once more) and beta's as a sum.
    private static func batchNormVJP(_ inputs: [Tensor], saved: [Tensor], eps: Double, g: Tensor) -> [Tensor?] {
        let (x, gamma, beta) = (inputs[0], inputs[1], inputs[2])
        let (mean, invstd, variance) = (saved[0], saved[1], saved[2])
        if !GradMode.isRecording {
            let (gx, ggamma, gbeta) = Tensor.batchNormBackward(x, g, gamma: gamma, mean: mean, invstd: invstd, variance: variance, eps: eps)
            return [x.requiresGrad ? gx : nil, gamma.requiresGrad ? ggamma : nil, beta.requiresGrad ? gbeta : nil]
        }
        let (gx, ggamma) = Tensor.batchNormGradients(x, g, gamma: gamma, mean: mean, invstd: invstd)
        return [x.requiresGrad ? gx : nil, gamma.requiresGrad ? ggamma : nil, beta.requiresGrad ? g.sum(axes: [0] + Array(2..<x.rank)) : nil]
    }
}
