// The small grey-image CNNs of models.py: conv3x3-relu-conv3x3-relu-maxpool2-fc-relu-fc.
import Tensor

/// `mnist_teacher` (32, 64, 128) and `mnist_student` (8, 16, 32) for 28x28 grey images.
/// Named layers (features): `conv1` (relu(conv1)), `conv2` (relu(conv2)), `pool` (max-pooled);
/// pre-activations: conv1, conv2 and fc1 before their ReLU.
public final class MnistNet: Module, Classifier {
    /// The models.py name (`mnist_teacher`, `mnist_student`).
    public let arch: String
    let conv1: Conv2d, conv2: Conv2d, fc1: Linear, fc2: Linear
    /// The feature points, in forward order.
    public let layerNames = ["conv1", "conv2", "pool"]
    /// The points before each ReLU, in forward order.
    public let preActivationNames = ["conv1", "conv2", "fc1"]
    let imageSize: Int

    /// Two 3x3 convolutions (`channels1`, `channels2`), then `hidden` units, for `[N, inChannels, imageSize, imageSize]` input.
    public init(arch: String, channels1: Int, channels2: Int, hidden: Int, classes: Int, inChannels: Int, imageSize: Int,
                generator: inout SeededGenerator) {
        self.arch = arch
        self.imageSize = imageSize
        let pooled = (imageSize - 4) / 2
        conv1 = Conv2d(inChannels, channels1, kernel: 3, generator: &generator)
        conv2 = Conv2d(channels1, channels2, kernel: 3, generator: &generator)
        fc1 = Linear(channels2 * pooled * pooled, hidden, generator: &generator)
        fc2 = Linear(hidden, classes, generator: &generator)
    }

    /// Sub-modules under their models.py names.
    override public var children: [(String, Module)] { [("conv1", conv1), ("conv2", conv2), ("fc1", fc1), ("fc2", fc2)] }

    /// `[N, C, H, W]` up to named layer `upto`: logits `[N, classes]`, features, pre-activations, `[N, hidden]` embedding.
    public func forward(_ x: Tensor, upto: Int? = nil) -> ModelOutput {
        let p1 = conv1(x)
        let a1 = p1.relu()
        let p2 = conv2(a1)
        let a2 = p2.relu()
        if let upto, upto <= 2 {
            return ModelOutput(logits: nil, features: Array([a1, a2].prefix(upto)), preActivations: Array([p1, p2].prefix(upto)))
        }
        let a3 = a2.maxPooled(PoolGeometry(kernel: 2))
        if upto == 3 { return ModelOutput(logits: nil, features: [a1, a2, a3], preActivations: [p1, p2]) }
        let p4 = fc1(a3.reshaped([x.shape[0], -1]))
        let hidden = p4.relu()
        return ModelOutput(logits: fc2(hidden), features: [a1, a2, a3], preActivations: [p1, p2, p4], embedding: hidden)
    }

    /// Multiply-accumulates of the two convolutions and two linear layers per image.
    public var macsPerImage: Int {
        conv1.macs(height: imageSize, width: imageSize) + conv2.macs(height: imageSize - 2, width: imageSize - 2) + fc1.macs + fc2.macs
    }
}
