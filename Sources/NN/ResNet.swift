// RepDistiller's CIFAR ResNets (depth 6n+2): a 3x3 stem, three groups of basic blocks (the named layers layer1-3), global
// average pooling, a linear classifier. Parameter names as models.py / RepDistiller resnet.py.
import Tensor

/// conv3x3-bn-relu-conv3x3-bn plus the shortcut (a 1x1 conv + bn when the shape changes), then relu.
public final class BasicBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    let downsample: Sequential?

    /// A block from `inPlanes` to `planes` channels; `stride` 2 halves `H` and `W`.
    public init(_ inPlanes: Int, _ planes: Int, stride: Int, generator: inout SeededGenerator) {
        conv1 = Conv2d(inPlanes, planes, kernel: 3, stride: stride, padding: 1, bias: false, generator: &generator)
        bn1 = BatchNorm(planes)
        conv2 = Conv2d(planes, planes, kernel: 3, padding: 1, bias: false, generator: &generator)
        bn2 = BatchNorm(planes)
        downsample = stride != 1 || inPlanes != planes
            ? Sequential([Conv2d(inPlanes, planes, kernel: 1, stride: stride, bias: false, generator: &generator), BatchNorm(planes)])
            : nil
    }

    /// `conv1`, `bn1`, `conv2`, `bn2`, then `downsample` when present.
    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)] + (downsample.map { [("downsample", $0)] } ?? [])
    }

    /// The block's output and its value before the final ReLU.
    public func forward(_ x: Tensor) -> (output: Tensor, pre: Tensor) {
        let out = conv1(x, then: bn1, relu: true)
        let pre = conv2(out, then: bn2, relu: false) + (downsample.map { $0(x) } ?? x)
        return (pre.relu(), pre)
    }

    func macs(height: Int, width: Int) -> Int {
        let stride = conv1.geometry.stride
        let (oh, ow) = ((height - 1) / stride + 1, (width - 1) / stride + 1)
        let shortcut = (downsample?.layers.first as? Conv2d)?.macs(height: height, width: width) ?? 0
        return conv1.macs(height: height, width: width) + conv2.macs(height: oh, width: ow) + shortcut
    }
}

/// A list of blocks named `0`, `1`, ... (PyTorch's nn.Sequential of blocks).
final class BlockList<Block: Module>: Module {
    let blocks: [Block]
    init(_ blocks: [Block]) { self.blocks = blocks }
    override var children: [(String, Module)] { blocks.enumerated().map { (String($0.offset), $0.element) } }
}

/// ResNet-(6n+2) with filters `[stem, layer1, layer2, layer3]`.
public final class ResNet: Module, Classifier, ResidualNetwork {
    /// The models.py name (`resnet8`, ..., `resnet32x4`).
    public let arch: String
    let conv1: Conv2d, bn1: BatchNorm
    let layers: [ResidualStage]
    let fc: Linear
    /// The three block groups (`layer1`...`layer3`), in forward order.
    public let layerNames = ["layer1", "layer2", "layer3"]
    let imageSize: Int

    /// ResNet-`depth` (6n+2, n blocks per group) for `[N, inChannels, imageSize, imageSize]` input.
    public init(arch: String, depth: Int, filters: [Int], classes: Int, inChannels: Int, imageSize: Int, generator: inout SeededGenerator) {
        precondition((depth - 2) % 6 == 0, "ResNet depth \(depth) is not 6n+2")
        let n = (depth - 2) / 6
        self.arch = arch
        self.imageSize = imageSize
        conv1 = Conv2d(inChannels, filters[0], kernel: 3, padding: 1, bias: false, generator: &generator)
        bn1 = BatchNorm(filters[0])
        var inPlanes = filters[0]
        var layers: [ResidualStage] = []
        for (group, planes) in filters.dropFirst().enumerated() {
            var blocks: [any ResidualBlock] = []
            for index in 0..<n {
                blocks.append(BasicBlock(inPlanes, planes, stride: group > 0 && index == 0 ? 2 : 1, generator: &generator))
                inPlanes = planes
            }
            layers.append(ResidualStage(blocks))
        }
        self.layers = layers
        fc = Linear(filters.last!, classes, generator: &generator)
    }

    /// `conv1`, `bn1`, `layer1`...`layer3`, `fc`, as RepDistiller names them.
    override public var children: [(String, Module)] {
        [("conv1", conv1), ("bn1", bn1)] + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element) } + [("fc", fc)]
    }

    /// `[N, C, H, W]` up to named layer `upto`: logits `[N, classes]`, the named layers' outputs, their pre-ReLU values, `[N, filters[3]]` embedding.
    public func forward(_ x: Tensor, upto: Int? = nil) -> ModelOutput { residualForward(x, upto: upto) }

    /// Multiply-accumulates of every convolution and the classifier per image.
    public var macsPerImage: Int { residualMACs }
}
