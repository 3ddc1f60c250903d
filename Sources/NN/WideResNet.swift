// The attention-transfer paper's wide ResNets WRN-depth-k (pre-activation blocks), with
// RepDistiller's parameter names (`block1.layer.0.bn1.weight`, `convShortcut`).
import Tensor

/// bn-relu-conv-bn-relu-conv, the shortcut a 1x1 conv of the activated input when shapes change.
public final class WideBasic: Module {
    let bn1: BatchNorm, conv1: Conv2d, bn2: BatchNorm, conv2: Conv2d
    let convShortcut: Conv2d?

    init(_ inPlanes: Int, _ outPlanes: Int, stride: Int, generator: inout SeededGenerator) {
        bn1 = BatchNorm(inPlanes)
        conv1 = Conv2d(inPlanes, outPlanes, kernel: 3, stride: stride, padding: 1, bias: false, generator: &generator)
        bn2 = BatchNorm(outPlanes)
        conv2 = Conv2d(outPlanes, outPlanes, kernel: 3, padding: 1, bias: false, generator: &generator)
        convShortcut = inPlanes == outPlanes ? nil
            : Conv2d(inPlanes, outPlanes, kernel: 1, stride: stride, bias: false, generator: &generator)
    }

    /// `bn1`, `conv1`, `bn2`, `conv2`, then `convShortcut` when present.
    override public var children: [(String, Module)] {
        [("bn1", bn1), ("conv1", conv1), ("bn2", bn2), ("conv2", conv2)] + (convShortcut.map { [("convShortcut", $0)] } ?? [])
    }

    /// The block's output and its input through bn1, before its ReLU.
    func forward(_ x: Tensor) -> (output: Tensor, pre: Tensor) {
        let pre = bn1(x)
        let activated = pre.relu()
        let y = conv2(conv1(activated, then: bn2, relu: true))
        return (y + (convShortcut.map { $0(activated) } ?? x), pre)
    }

    func macs(height: Int, width: Int) -> Int {
        let stride = conv1.geometry.stride
        let (oh, ow) = ((height - 1) / stride + 1, (width - 1) / stride + 1)
        return conv1.macs(height: height, width: width) + conv2.macs(height: oh, width: ow)
            + (convShortcut?.macs(height: height, width: width) ?? 0)
    }
}

/// A group of wide blocks; its blocks are the child `layer` (`block1.layer.0...`).
final class NetworkBlock: Module {
    let layer: BlockList<WideBasic>
    init(_ blocks: [WideBasic]) { layer = BlockList(blocks) }
    override var children: [(String, Module)] { [("layer", layer)] }
}

/// WRN-depth-widen: channels 16, 16k, 32k, 64k, (depth-4)/6 blocks per group.
public final class WideResNet: Module, Classifier {
    /// The models.py name (`wrn_16_1`, ..., `wrn_40_2`).
    public let arch: String
    let conv1: Conv2d
    let groups: [NetworkBlock]
    let bn1: BatchNorm
    let fc: Linear
    /// The three groups' outputs, in forward order.
    public let layerNames = ["block1", "block2", "block3"]
    let imageSize: Int

    /// WRN-`depth`-`widen` (6n+4, n blocks per group) for `[N, inChannels, imageSize, imageSize]` input.
    public init(arch: String, depth: Int, widen: Int, classes: Int, inChannels: Int, imageSize: Int, generator: inout SeededGenerator) {
        precondition((depth - 4) % 6 == 0, "WRN depth \(depth) is not 6n+4")
        let n = (depth - 4) / 6
        let channels = [16, 16 * widen, 32 * widen, 64 * widen]
        self.arch = arch
        self.imageSize = imageSize
        conv1 = Conv2d(inChannels, channels[0], kernel: 3, padding: 1, bias: false, generator: &generator)
        groups = (1...3).map { group in
            NetworkBlock((0..<n).map { index in
                WideBasic(index == 0 ? channels[group - 1] : channels[group], channels[group],
                          stride: index == 0 && group > 1 ? 2 : 1, generator: &generator)
            })
        }
        bn1 = BatchNorm(channels[3])
        fc = Linear(channels[3], classes, generator: &generator)
    }

    /// `conv1`, `block1`...`block3`, `bn1`, `fc`, as RepDistiller names them.
    override public var children: [(String, Module)] {
        [("conv1", conv1)] + groups.enumerated().map { ("block\($0.offset + 1)", $0.element) } + [("bn1", bn1), ("fc", fc)]
    }

    /// `[N, C, H, W]` up to group `upto`: logits `[N, classes]`, group outputs, `[N, 64k]` embedding.
    /// `pre[k]`: group k's output through the BN that follows it (the next group's first bn1, or
    /// the final bn1), as RepDistiller's `preact=True`.
    public func forward(_ x: Tensor, upto: Int? = nil) -> ModelOutput {
        var out = conv1(x)
        var features: [Tensor] = [], pre: [Tensor] = []
        for (index, group) in groups.enumerated() {
            for (position, block) in group.layer.blocks.enumerated() {
                let (next, blockPre) = block.forward(out)
                out = next
                if position == 0 && index > 0 { pre.append(blockPre) }
            }
            features.append(out)
            if upto == index + 1 { return ModelOutput(logits: nil, features: features, preActivations: pre) }
        }
        let final = bn1(out)
        pre.append(final)
        let pooled = final.relu().mean(axes: [2, 3])
        return ModelOutput(logits: fc(pooled), features: features, preActivations: pre, embedding: pooled)
    }

    /// Multiply-accumulates of every convolution and the classifier per image.
    public var macsPerImage: Int {
        var size = imageSize
        var total = conv1.macs(height: size, width: size)
        for group in groups {
            for block in group.layer.blocks {
                total += block.macs(height: size, width: size)
                size = (size - 1) / block.conv1.geometry.stride + 1
            }
        }
        return total + fc.macs
    }
}
