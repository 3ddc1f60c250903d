// torchvision's MobileNetV2 (inverted residuals with linear bottlenecks, ReLU6, depthwise 3x3 convolutions) adapted
// to 32x32 input the common CIFAR way, with torchvision's parameter names (`features.0.0.weight`,
// `features.2.conv.1.0.weight`, `classifier.1.weight`); PyTorch definition: scripts/zoo_models.py. NCHW throughout.
//
// Strides changed from torchvision, both to 1: the stem conv (features.0, torchvision 2) and the first stride-2
// stage (t=6, c=24, features.2, torchvision 2). torchvision reduces 224x224 by 32 to 7x7; the same on 32x32 would
// leave 2x2 maps from the c=64 stage and 1x1 from the c=160 one, so the network downsamples by 8 instead (32 -> 4x4),
// as kuangliu/pytorch-cifar does. RepDistiller's mobilenetv2.py (its `mobile_half` is the zoo's mobilenetv2_half)
// differs more: stem stride 2 kept and only the c=24 stage at stride 1 (32 -> 2x2), ReLU instead of ReLU6, a 1x1
// expansion conv also in the t=1 block, channels `int(c * width)` instead of rounding to multiples of 8, its own
// names (`conv1`, `blocks.1.0.conv.3`, `conv2`, `classifier.0`) and initialisation; its taps are the same stages.
//
// Not taken from torchvision: Dropout(0.2) before the classifier (dropout is not part of the zoo's deterministic
// models, and RepDistiller has none), so `classifier.0` has no state, as in torchvision; and the initialisation,
// PyTorch's default as the rest of the zoo (torchvision: kaiming-normal convolutions, N(0, 0.01) linear weights).
import Tensor

/// torchvision's `_make_divisible`: `value` to the nearest multiple of `divisor` (at least `divisor`), never more than
/// 10% below `value`.
func makeDivisible(_ value: Double, divisor: Int = 8) -> Int {
    let rounded = Swift.max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
    return Double(rounded) < 0.9 * value ? rounded + divisor : rounded
}

/// conv - bn - ReLU6 (torchvision's Conv2dNormActivation): children `0`, `1`; the ReLU6 at `2` has no state.
func convBNReLU6(_ inChannels: Int, _ outChannels: Int, kernel: Int = 3, stride: Int = 1, groups: Int = 1,
                 generator: inout SeededGenerator) -> Sequential {
    Sequential([Conv2d(inChannels, outChannels, kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups,
                       bias: false, generator: &generator),
                BatchNorm(outChannels), ReLU6()])
}

/// Multiply-accumulates per image of the convolutions in `layer` (nested sequentials included) on a `size x size`
/// input; `size` becomes the output size.
func sequentialMACs(_ layer: any Layer, size: inout Int) -> Int {
    if let conv = layer as? Conv2d {
        defer { size = (size + 2 * conv.geometry.padding - conv.weight.shape[2]) / conv.geometry.stride + 1 }
        return conv.macs(height: size, width: size)
    }
    guard let sequential = layer as? Sequential else { return 0 }
    return sequential.layers.reduce(0) { $0 + sequentialMACs($1, size: &size) }
}

/// torchvision's inverted residual: [1x1 expansion conv-bn-ReLU6 when t > 1], 3x3 depthwise conv-bn-ReLU6 (the stride),
/// 1x1 projection conv-bn with no activation; the input is added when stride is 1 and the channels agree.
public final class InvertedResidual: Module {
    let conv: Sequential
    let residual: Bool

    /// A block from `inChannels` to `outChannels` with `expansion` (t) times as many hidden channels.
    public init(_ inChannels: Int, _ outChannels: Int, stride: Int, expansion: Int, generator: inout SeededGenerator) {
        let hidden = inChannels * expansion
        var layers: [any Layer] = expansion == 1 ? [] : [convBNReLU6(inChannels, hidden, kernel: 1, generator: &generator)]
        layers.append(convBNReLU6(hidden, hidden, stride: stride, groups: hidden, generator: &generator))
        layers.append(Conv2d(hidden, outChannels, kernel: 1, bias: false, generator: &generator))
        layers.append(BatchNorm(outChannels))
        conv = Sequential(layers)
        residual = stride == 1 && inChannels == outChannels
    }

    /// `conv`, as torchvision names it.
    override public var children: [(String, Module)] { [("conv", conv)] }

    /// `[N, in, H, W]` to `[N, out, H', W']`.
    public func callAsFunction(_ x: Tensor) -> Tensor { residual ? x + conv(x) : conv(x) }
}

/// The classifier: torchvision's `Sequential(Dropout, Linear)`, the linear layer at index `1`.
final class MobileNetClassifier: Module {
    let linear: Linear
    init(_ linear: Linear) { self.linear = linear }
    override var children: [(String, Module)] { [("1", linear)] }
}

/// MobileNetV2 for small images: `features` (stem, 17 inverted residuals, 1x1 head), global average pool, `classifier`.
public final class MobileNetV2: Module, Classifier {
    /// The zoo's MobileNetV2s by width multiplier.
    public enum Variant: String, CaseIterable, Sendable {
        /// Width 1: 2.2M parameters for 10 classes.
        case mobilenetv2
        /// Width 0.5, RepDistiller's student `mobile_half` in torchvision's form: 0.7M parameters for 10 classes.
        case mobilenetv2_half

        /// The width multiplier (torchvision's `width_mult`).
        public var width: Double {
            switch self {
            case .mobilenetv2: 1
            case .mobilenetv2_half: 0.5
            }
        }
    }

    /// (t, c, n, s) as torchvision's `inverted_residual_setting`, the c=24 stage at stride 1 for 32x32 input.
    static let setting: [(t: Int, c: Int, n: Int, s: Int)] = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                                                              (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    /// The stages whose outputs are the named layers: c = 24, 32, 96, 320 (RepDistiller's feature taps), at 32x32,
    /// 16x16, 8x8 and 4x4 for 32x32 input.
    static let tappedStages = [1, 2, 4, 6]

    /// The zoo name (`mobilenetv2`, `mobilenetv2_half`).
    public let arch: String
    let stem: Sequential, blocks: [InvertedResidual], head: Sequential
    let fc: Linear
    let features: BlockList<Module>, classifier: MobileNetClassifier
    /// `features.k` for the last block of each tapped stage: `features.3`, `features.6`, `features.13`, `features.17`.
    public let layerNames: [String]
    let taps: [Int]
    let imageSize: Int

    /// `variant` for `[N, inChannels, imageSize, imageSize]` input; `width` (default the variant's) scales every
    /// channel count, rounded to multiples of 8; `lastChannels` (default torchvision's `1280 * max(1, width)`) is the
    /// head's output, the embedding's size.
    public init(_ variant: Variant, width: Double? = nil, lastChannels: Int? = nil, classes: Int, inChannels: Int, imageSize: Int,
                generator: inout SeededGenerator) {
        let width = width ?? variant.width
        let last = lastChannels ?? makeDivisible(1280 * Swift.max(1, width))
        arch = variant.rawValue
        self.imageSize = imageSize
        var channels = makeDivisible(32 * width)
        stem = convBNReLU6(inChannels, channels, generator: &generator)
        var blocks: [InvertedResidual] = [], taps: [Int] = []
        for (stage, (t, c, n, s)) in Self.setting.enumerated() {
            let outChannels = makeDivisible(Double(c) * width)
            for index in 0..<n {
                blocks.append(InvertedResidual(channels, outChannels, stride: index == 0 ? s : 1, expansion: t, generator: &generator))
                channels = outChannels
            }
            if Self.tappedStages.contains(stage) { taps.append(blocks.count) }
        }
        self.blocks = blocks
        self.taps = taps
        layerNames = taps.map { "features.\($0)" }
        head = convBNReLU6(channels, last, kernel: 1, generator: &generator)
        fc = Linear(last, classes, generator: &generator)
        features = BlockList<Module>([stem] + blocks + [head])
        classifier = MobileNetClassifier(fc)
    }

    /// `features` (`0` the stem, `1`...`17` the blocks, `18` the head) and `classifier`, as torchvision names them.
    override public var children: [(String, Module)] {
        [("features", features), ("classifier", classifier)]
    }

    /// `[N, C, H, W]` up to named layer `upto`: logits `[N, classes]`, the tapped stages' outputs, and the
    /// `[N, lastChannels]` pooled embedding. The tapped outputs are linear (no ReLU follows them), so the
    /// pre-activations are the same tensors (RepDistiller's `get_bn_before_relu` takes the stage's last BN, which is
    /// the output before the block's residual sum).
    public func forward(_ x: Tensor, upto: Int? = nil) -> ModelOutput {
        var out = stem(x)
        var tapped: [Tensor] = []
        for (index, block) in blocks.enumerated() {
            out = block(out)
            guard taps.contains(index + 1) else { continue }
            tapped.append(out)
            if upto == tapped.count { return ModelOutput(logits: nil, features: tapped, preActivations: tapped) }
        }
        let pooled = head(out).mean(axes: [2, 3])
        return ModelOutput(logits: fc(pooled), features: tapped, preActivations: tapped, embedding: pooled)
    }

    /// Multiply-accumulates of every convolution and the classifier per image.
    public var macsPerImage: Int {
        var size = imageSize
        let convolutions = ([stem] + blocks.map(\.conv) + [head]).reduce(0) { $0 + sequentialMACs($1, size: &size) }
        return convolutions + fc.macs
    }
}
