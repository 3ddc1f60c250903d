// The basic layers: convolution, batch norm, linear, and the parameter-free ones.
import Parallel
import Tensor

/// 2-D convolution, weight `[out, in/groups, k, k]`, optional bias `[out]`; input `[N, in, H, W]`.
public final class Conv2d: Module {
    /// `[out, in/groups, k, k]`, trainable.
    public let weight: Tensor
    /// `[out]`, trainable, or nil without bias.
    public let bias: Tensor?
    /// Stride and zero padding, the same on both spatial axes, and channel groups.
    public let geometry: ConvolutionGeometry

    /// A `kernel x kernel` convolution from `inChannels` to `outChannels` in `groups` channel groups (`inChannels`
    /// groups: depthwise), PyTorch-initialised from `generator`.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
                bias: Bool = true, generator: inout SeededGenerator) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: \(inChannels) -> \(outChannels) channels in \(groups) groups")
        let fanIn = inChannels / groups * kernel * kernel
        weight = defaultInitialisation([outChannels, inChannels / groups, kernel, kernel], fanIn: fanIn, generator: &generator)
        self.bias = bias ? defaultInitialisation([outChannels], fanIn: fanIn, generator: &generator) : nil
        geometry = ConvolutionGeometry(stride: stride, padding: padding, groups: groups)
    }

    /// `weight`, then `bias` when present.
    override public var localParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    /// `[N, in, H, W]` to `[N, out, H', W']`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor.convolution(x, weight, geometry: geometry)
        return bias.map { y + $0.channelShaped(rank: 4) } ?? y
    }

    /// Multiply-accumulates per image for an input of `height x width` (each output sees `in/groups` channels).
    public func macs(height: Int, width: Int) -> Int {
        let (out, inC, k) = (weight.shape[0], weight.shape[1], weight.shape[2])
        let oh = (height + 2 * geometry.padding - k) / geometry.stride + 1
        let ow = (width + 2 * geometry.padding - k) / geometry.stride + 1
        return out * oh * ow * inC * k * k
    }
}

extension Conv2d {
    /// `bn(self(x))`, then ReLU when `relu`: `[N, in, H, W]` to `[N, out, H', W']`. With `bn` in
    /// evaluation and no op recording gradients (precompute, evaluation), `bn` is folded into the
    /// convolution (weights `w * s`, bias `(b - mean) * s + beta`, `s = gamma / sqrt(var + eps)`)
    /// and the three run as one oneDNN pass; otherwise as three ops.
    public func callAsFunction(_ x: Tensor, then bn: BatchNorm, relu: Bool) -> Tensor {
        guard !bn.isTraining, !GradMode.isRecording else {
            let y = bn(self(x))
            return relu ? y.relu() : y
        }
        let scale = bn.weight * (bn.runningVariance + bn.eps).pow(-0.5)
        let shift = bn.bias + (bias.map { $0 - bn.runningMean } ?? -bn.runningMean) * scale
        return Tensor.convolution(x, weight * scale.reshaped([weight.shape[0], 1, 1, 1]), bias: shift, geometry: geometry, relu: relu)
    }
}

/// Batch normalisation over axis 1 of `[N, C, ...]` (PyTorch's BatchNorm2d and BatchNorm1d):
/// batch statistics while training (synchronised across `DataParallel.group` when one is set),
/// running averages (momentum 0.1) in evaluation.
public final class BatchNorm: Module {
    /// `[C]` scale (gamma), trainable, initially 1.
    public let weight: Tensor
    /// `[C]` shift (beta), trainable, initially 0.
    public let bias: Tensor
    /// `[C]` running mean of the batch means, used in evaluation.
    public let runningMean: Tensor
    /// `[C]` running (unbiased) variance, used in evaluation.
    public let runningVariance: Tensor
    /// Training batches seen (PyTorch's `num_batches_tracked`), kept as a one-element tensor.
    public let batchesTracked: Tensor
    /// Added to the variance before the square root.
    public let eps: Double
    /// Weight of each new batch's statistics in the running averages.
    public let momentum: Double

    /// Normalisation of `channels` channels: weight 1, bias 0, running mean 0 and variance 1.
    public init(_ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        weight = .ones([channels])
        bias = .zeros([channels])
        weight.requiresGrad = true
        bias.requiresGrad = true
        runningMean = .zeros([channels])
        runningVariance = .ones([channels])
        batchesTracked = .zeros([])
        self.eps = eps
        self.momentum = momentum
    }

    /// `weight` and `bias`.
    override public var localParameters: [(String, Tensor)] { [("weight", weight), ("bias", bias)] }
    /// `running_mean`, `running_var` and `num_batches_tracked`, as PyTorch names them.
    override public var localBuffers: [(String, Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    /// `[N, C, ...]` normalised per channel; in training also updates the running statistics.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining else {
            return Tensor.batchNormInference(x, gamma: weight, beta: bias, runningMean: runningMean,
                                             runningVariance: runningVariance, eps: eps)
        }
        let output: Tensor, mean: Tensor, variance: Tensor, perChannel: Double
        if let group = DataParallel.group {
            // The whole batch's statistics, across the processes that each hold a slice of it.
            let synchronized = Tensor.synchronizedBatchNorm(x, gamma: weight, beta: bias, eps: eps, group: group)
            (output, mean, variance, perChannel) = (synchronized.output, synchronized.mean, synchronized.variance, Double(synchronized.count))
        } else {
            (output, mean, variance) = Tensor.batchNorm(x, gamma: weight, beta: bias, eps: eps)
            perChannel = Double(x.count / x.shape[1])
        }
        runningMean.update(adding: mean, scaledBy: momentum, keeping: 1 - momentum)
        runningVariance.update(adding: variance, scaledBy: momentum * perChannel / Swift.max(1, perChannel - 1), keeping: 1 - momentum)
        batchesTracked.update(adding: Tensor.ones([], dtype: batchesTracked.dtype), scaledBy: 1)
        return output
    }
}

/// Fully connected layer `y = x W^T + b`, weight `[out, in]`; input `[N, in]`.
public final class Linear: Module {
    /// `[out, in]`, trainable.
    public let weight: Tensor
    /// `[out]`, trainable, or nil without bias.
    public let bias: Tensor?

    /// A layer from `inFeatures` to `outFeatures`, PyTorch-initialised from `generator`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
        weight = defaultInitialisation([outFeatures, inFeatures], fanIn: inFeatures, generator: &generator)
        self.bias = bias ? defaultInitialisation([outFeatures], fanIn: inFeatures, generator: &generator) : nil
    }

    /// `weight`, then `bias` when present.
    override public var localParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    /// `[N, in]` to `[N, out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor.matmul(x, weight, transposeB: true)
        return bias.map { y + $0 } ?? y
    }

    /// Multiply-accumulates per sample.
    public var macs: Int { weight.count }
}

/// A layer applied as a function of one tensor, for `Sequential`.
public protocol Layer: Module {
    /// Applies the layer to `x`.
    func callAsFunction(_ x: Tensor) -> Tensor
}

extension Conv2d: Layer {}
extension BatchNorm: Layer {}
extension Linear: Layer {}

/// `max(x, 0)`.
public final class ReLU: Module, Layer {
    /// A parameter-free ReLU.
    override public init() {}
    /// Elementwise `max(x, 0)`, any shape.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu() }
}

/// `min(max(x, 0), 6)`, MobileNetV2's activation (PyTorch's ReLU6).
public final class ReLU6: Module, Layer {
    /// A parameter-free ReLU6.
    override public init() {}
    /// Elementwise `min(max(x, 0), 6)`, any shape.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu6() }
}

/// Layers applied in order; children are named `0`, `1`, ... as in PyTorch.
public final class Sequential: Module, Layer {
    /// The layers, in the order applied.
    public let layers: [any Layer]
    /// A chain of `layers`, applied in order.
    public init(_ layers: [any Layer]) { self.layers = layers }
    /// The layers, named by position (`0`, `1`, ...).
    override public var children: [(String, Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }
    /// The output of the last layer.
    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}
