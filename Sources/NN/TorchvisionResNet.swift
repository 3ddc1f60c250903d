// torchvision's ResNet-18 and ResNet-50 (BasicBlock / Bottleneck, layer1-4, fc) with the common CIFAR stem: conv1 is
// 3x3 stride 1 padding 1 instead of 7x7 stride 2 padding 3 and there is no max-pool, so 32x32 input reaches layer1 at
// 32x32 and layer4 at 4x4. Parameter names as torchvision's state_dict (`layer2.0.downsample.0.weight`, `fc.bias`);
// PyTorch definition: scripts/zoo_models.py. ResNet.swift's BasicBlock (RepDistiller's) is torchvision's BasicBlock.
// NCHW throughout.
import Tensor

/// A residual block with torchvision's downsample rule: a 1x1 conv + bn shortcut when the stride or the width changes.
protocol ResidualBlock: Module {
    /// Output channels per `planes` (1 for BasicBlock, 4 for Bottleneck).
    static var expansion: Int { get }
    /// A block from `inPlanes` to `planes * expansion` channels; `stride` 2 halves `H` and `W`.
    init(_ inPlanes: Int, _ planes: Int, stride: Int, generator: inout SeededGenerator)
    /// The block's output and its value before the final ReLU.
    func forward(_ x: Tensor) -> (output: Tensor, pre: Tensor)
    /// The spatial stride of the block.
    var stride: Int { get }
    /// Multiply-accumulates per image for an input of `height x width`.
    func macs(height: Int, width: Int) -> Int
}

extension BasicBlock: ResidualBlock {
    static var expansion: Int { 1 }
    var stride: Int { conv1.geometry.stride }
}

/// torchvision's ResNet v1.5 bottleneck: conv1x1-bn-relu, conv3x3 (the stride)-bn-relu, conv1x1 to `4 * planes`-bn, plus
/// the shortcut, then relu.
public final class Bottleneck: Module, ResidualBlock {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, conv3: Conv2d, bn3: BatchNorm
    let downsample: Sequential?

    /// A block from `inPlanes` to `4 * planes` channels; `stride` 2 halves `H` and `W`.
    public init(_ inPlanes: Int, _ planes: Int, stride: Int, generator: inout SeededGenerator) {
        let outPlanes = planes * Self.expansion
        conv1 = Conv2d(inPlanes, planes, kernel: 1, bias: false, generator: &generator)
        bn1 = BatchNorm(planes)
        conv2 = Conv2d(planes, planes, kernel: 3, stride: stride, padding: 1, bias: false, generator: &generator)
        bn2 = BatchNorm(planes)
        conv3 = Conv2d(planes, outPlanes, kernel: 1, bias: false, generator: &generator)
        bn3 = BatchNorm(outPlanes)
        downsample = stride != 1 || inPlanes != outPlanes
            ? Sequential([Conv2d(inPlanes, outPlanes, kernel: 1, stride: stride, bias: false, generator: &generator), BatchNorm(outPlanes)])
            : nil
    }

    /// `conv1`, `bn1`, `conv2`, `bn2`, `conv3`, `bn3`, then `downsample` when present.
    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    /// `[N, inPlanes, H, W]` to the block's output `[N, 4 planes, H', W']` and its value before the final ReLU.
    public func forward(_ x: Tensor) -> (output: Tensor, pre: Tensor) {
        let out = conv2(conv1(x, then: bn1, relu: true), then: bn2, relu: true)
        let pre = conv3(out, then: bn3, relu: false) + (downsample.map { $0(x) } ?? x)
        return (pre.relu(), pre)
    }

    var stride: Int { conv2.geometry.stride }

    func macs(height: Int, width: Int) -> Int {
        let (oh, ow) = ((height - 1) / stride + 1, (width - 1) / stride + 1)
        let shortcut = (downsample?.layers.first as? Conv2d)?.macs(height: height, width: width) ?? 0
        return conv1.macs(height: height, width: width) + conv2.macs(height: height, width: width) + conv3.macs(height: oh, width: ow) + shortcut
    }
}

/// A list of residual blocks named `0`, `1`, ...: one layer of either ResNet family (RepDistiller's
/// `layer1`...`layer3`, torchvision's `layer1`...`layer4`), its blocks `any ResidualBlock`.
final class ResidualStage: Module {
    let blocks: [any ResidualBlock]
    init(_ blocks: [any ResidualBlock]) { self.blocks = blocks }
    override var children: [(String, Module)] { blocks.enumerated().map { (String($0.offset), $0.element) } }
}

/// What both ResNet families are: conv1 - bn1 - relu - stages of residual blocks - global average pool - fc.
protocol ResidualNetwork: AnyObject {
    var conv1: Conv2d { get }
    var bn1: BatchNorm { get }
    var layers: [ResidualStage] { get }
    var fc: Linear { get }
    var imageSize: Int { get }
}

extension ResidualNetwork {
    /// `[N, C, H, W]` up to stage `upto` (1-based): logits `[N, classes]`, each stage's output, its last block's
    /// value before the final ReLU, and the pooled `[N, channels]` embedding.
    func residualForward(_ x: Tensor, upto: Int?) -> ModelOutput {
        var out = conv1(x, then: bn1, relu: true)
        var features: [Tensor] = [], pre: [Tensor] = []
        for (index, layer) in layers.enumerated() {
            var last = out
            for block in layer.blocks { (out, last) = block.forward(out) }
            features.append(out)
            pre.append(last)
            if upto == index + 1 { return ModelOutput(logits: nil, features: features, preActivations: pre) }
        }
        let pooled = out.mean(axes: [2, 3])
        return ModelOutput(logits: fc(pooled), features: features, preActivations: pre, embedding: pooled)
    }

    /// Multiply-accumulates of every convolution and the classifier per image.
    var residualMACs: Int {
        var size = imageSize
        var total = conv1.macs(height: size, width: size)
        for layer in layers {
            for block in layer.blocks {
                total += block.macs(height: size, width: size)
                size = (size - 1) / block.stride + 1
            }
        }
        return total + fc.macs
    }
}

/// torchvision's ResNet with the CIFAR stem: conv1 (3x3) - bn1 - relu - layer1...layer4 - global average pool - fc.
public final class TorchvisionResNet: Module, Classifier, ResidualNetwork {
    /// The zoo's torchvision ResNets: the block type and the blocks per layer.
    public enum Variant: String, CaseIterable, Sendable {
        /// BasicBlock, [2, 2, 2, 2]: 11.2M parameters for 10 classes.
        case resnet18
        /// Bottleneck, [3, 4, 6, 3]: 23.5M parameters for 10 classes.
        case resnet50

        var block: any ResidualBlock.Type {
            switch self {
            case .resnet18: BasicBlock.self
            case .resnet50: Bottleneck.self
            }
        }

        var blocks: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet50: [3, 4, 6, 3]
            }
        }
    }

    /// The zoo name (`resnet18`, `resnet50`).
    public let arch: String
    let conv1: Conv2d, bn1: BatchNorm
    let layers: [ResidualStage]
    let fc: Linear
    /// The four block groups, in forward order.
    public let layerNames = ["layer1", "layer2", "layer3", "layer4"]
    let imageSize: Int

    /// `variant` for `[N, inChannels, imageSize, imageSize]` input. `width` is the channels of conv1 and layer1's
    /// planes (torchvision: 64); layer k has `width * 2^(k-1)` planes, `expansion` times as many output channels.
    public init(_ variant: Variant, width: Int = 64, classes: Int, inChannels: Int, imageSize: Int, generator: inout SeededGenerator) {
        arch = variant.rawValue
        self.imageSize = imageSize
        conv1 = Conv2d(inChannels, width, kernel: 3, padding: 1, bias: false, generator: &generator)
        bn1 = BatchNorm(width)
        var inPlanes = width
        var layers: [ResidualStage] = []
        for (index, count) in variant.blocks.enumerated() {
            let planes = width << index
            var blocks: [any ResidualBlock] = []
            for position in 0..<count {
                blocks.append(variant.block.init(inPlanes, planes, stride: index > 0 && position == 0 ? 2 : 1, generator: &generator))
                inPlanes = planes * variant.block.expansion
            }
            layers.append(ResidualStage(blocks))
        }
        self.layers = layers
        fc = Linear(inPlanes, classes, generator: &generator)
    }

    /// `conv1`, `bn1`, `layer1`...`layer4`, `fc`, as torchvision names them.
    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1)] + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element) } + [("fc", fc)]
    }

    /// `[N, C, H, W]` up to named layer `upto`: logits `[N, classes]`, the four layers' outputs, their last block's
    /// value before its ReLU, and the `[N, 8 width expansion]` pooled embedding.
    public func forward(_ x: Tensor, upto: Int? = nil) -> ModelOutput { residualForward(x, upto: upto) }

    /// Multiply-accumulates of every convolution and the classifier per image.
    public var macsPerImage: Int { residualMACs }
}
