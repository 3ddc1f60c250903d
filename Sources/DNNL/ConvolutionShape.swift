// What identifies a convolution primitive: the sizes (N = batch, C = input channels, H x W input,
// O = output channels, kh x kw kernel, one stride and one zero padding for both axes, dilation 1,
// one group), the pass, and the memory layout oneDNN works in.

/// The sizes of a float32 2-D convolution of an NCHW input `[N,C,H,W]` with OIHW weights
/// `[O,C,kh,kw]` giving `[N,O,oh,ow]`.
public struct ConvolutionShape: Hashable, Sendable, CustomStringConvertible {
    /// N, C, H, W of the input.
    public var batch, inputChannels, height, width: Int
    /// O, kh, kw of the weights.
    public var outputChannels, kernelHeight, kernelWidth: Int
    /// Step of the kernel and zeros added on each side, the same along both spatial axes.
    public var stride, padding: Int

    /// The sizes of a convolution of `input` `[N,C,H,W]` with `weight` `[O,C,kh,kw]`.
    public init(input: [Int], weight: [Int], stride: Int, padding: Int) {
        precondition(input.count == 4 && weight.count == 4 && input[1] == weight[1], "convolution of \(input) with \(weight)")
        (batch, inputChannels, height, width) = (input[0], input[1], input[2], input[3])
        (outputChannels, kernelHeight, kernelWidth) = (weight[0], weight[2], weight[3])
        (self.stride, self.padding) = (stride, padding)
    }

    /// oh and ow: PyTorch's output size, `(H + 2 padding - kh) / stride + 1`.
    public var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }

    /// `[N,C,H,W]`, `[O,C,kh,kw]` and `[N,O,oh,ow]`.
    var inputDims: [Int] { [batch, inputChannels, height, width] }
    var weightDims: [Int] { [outputChannels, inputChannels, kernelHeight, kernelWidth] }
    var outputDims: [Int] { [batch, outputChannels, outputHeight, outputWidth] }

    public var description: String {
        "\(batch)x\(inputChannels)x\(height)x\(width) -> \(outputChannels), \(kernelHeight)x\(kernelWidth) stride \(stride) padding \(padding)"
    }
}

/// One of the three convolution primitives of training, or evaluation's fused forward. Operands, in
/// the order `ConvolutionPrimitive.execute` takes them: forward (input, weight) -> output; backward
/// data (output gradient, weight) -> input gradient; backward weights (input, output gradient) ->
/// weight gradient; inference (input, weight) -> output plus a bias `[O]`, then ReLU for `inferenceReLU`.
public enum ConvolutionPass: String, Hashable, Sendable, CaseIterable {
    case forward, backwardData, backwardWeights, inference, inferenceReLU

    /// Whether the pass adds a bias (and is made for inference, keeping nothing for a backward pass).
    public var hasBias: Bool { self == .inference || self == .inferenceReLU }
}

/// The layout oneDNN computes in.
public enum ConvolutionLayout: String, Hashable, Sendable, CaseIterable {
    /// oneDNN works on the plain buffers directly (no copies).
    case plain
    /// oneDNN picks its layout (format `any`: channel blocks of 8 or 16); plain operands are
    /// reordered into it and a plain result back out, in scratch memory of the wrapper's, and
    /// activations may also be handed over and written in it (`ChannelBlocks`).
    case blocked
}
