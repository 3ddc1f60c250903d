// Which kernel runs a float32 convolution pass: oneDNN (plain NCHW or its blocked layout) or the
// reference im2col + GEMM in Tensor+Convolution.swift, chosen per shape by the rule in
// `ConvolutionKernel.measured` (numbers in BENCHMARKS.md, "conv: oneDNN convolutions against im2col"). float64 always
// takes the reference path: oneDNN has no f64 convolution. Whatever runs, the op recorded is the
// same, so derivatives (and derivatives of derivatives) stay exact.
// Threads: oneDNN is called from the calling thread, never from inside the Swift workers, with an
// OpenMP team of `ComputeThreads.count` (Debian's oneDNN runs on libgomp).
internal import DNNL
import Foundation
import Parallel

/// A convolution implementation.
public enum ConvolutionKernel: String, Sendable, CaseIterable {
    /// im2col + GEMM (oneDNN's or OpenBLAS's by shape, GEMM.swift), images split over the Swift workers: the reference.
    case reference
    /// oneDNN on the plain NCHW / OIHW buffers.
    case oneDNNPlain = "onednn-plain"
    /// oneDNN in the layout it chooses (format `any`), with reorders to and from NCHW.
    case oneDNNBlocked = "onednn-blocked"

    /// The kernel every float32 convolution uses, when set (tests, side-by-side benchmarks); nil
    /// lets the measured rule choose per shape. Defaults to the `KD_CONV` environment variable
    /// (`reference`, `onednn-plain`, `onednn-blocked`; unset or `auto`: the rule).
    @TaskLocal public static var forced: ConvolutionKernel? = fromEnvironment

    /// Runs `body` with every float32 convolution on `kernel` (nil: the measured rule).
    public static func with<R>(_ kernel: ConvolutionKernel?, _ body: () throws -> R) rethrows -> R {
        try $forced.withValue(kernel, operation: body)
    }

    private static let fromEnvironment: ConvolutionKernel? = {
        guard let value = ProcessInfo.processInfo.environment["KD_CONV"], value != "auto" else { return nil }
        guard let kernel = ConvolutionKernel(rawValue: value) else {
            fatalError("KD_CONV=\(value): expected auto, " + allCases.map(\.rawValue).joined(separator: ", "))
        }
        return kernel
    }()
}

/// The three passes of a convolution, named as the three recorded ops: `convolution`,
/// `convolutionInputGradient`, `convolutionWeightGradient`.
public enum ConvolutionPassKind: String, Sendable, CaseIterable {
    /// `Tensor.convolution`: oneDNN's forward pass.
    case forward
    /// `Tensor.convolutionInputGradient`: oneDNN's backward-data pass.
    case inputGradient
    /// `Tensor.convolutionWeightGradient`: oneDNN's backward-weights pass.
    case weightGradient

    var dnnl: ConvolutionPass {
        switch self {
        case .forward: .forward
        case .inputGradient: .backwardData
        case .weightGradient: .backwardWeights
        }
    }
}

extension ConvolutionKernel {
    /// The kernel a float32 `pass` of a convolution of `input` `[N,C,H,W]` with `weight`
    /// `[O,C,kh,kw]` runs on: the reference for grouped ones, else the forced one if set, else the
    /// measured rule's choice.
    public static func chosen(for pass: ConvolutionPassKind, input: [Int], weight: [Int], geometry: ConvolutionGeometry) -> ConvolutionKernel {
        choice(pass, ConvolutionSizes(input: input, weight: weight, geometry: geometry), batch: input[0])
    }

    /// The reference for grouped (depthwise) convolutions, which it runs group by group; else the
    /// forced kernel if set, else the measured rule's choice.
    static func choice(_ pass: ConvolutionPassKind, _ s: ConvolutionSizes, batch: Int) -> ConvolutionKernel {
        guard s.geometry.groups == 1 else { return .reference }
        return forced ?? measured(pass, s, batch: batch)
    }

    /// The measured choice for one pass of a convolution of `batch` images of sizes `s`
    /// (`kdbench conv`, batch 128, 1 and 2 threads, AMD EPYC Zen 3 with AVX2: BENCHMARKS.md).
    /// oneDNN's blocked layout wins every pass of the 3x3 layers with 8 or more channels (1.1-2.2x
    /// at one thread). Its plain-NCHW kernels never won clearly, so the rule does not use them.
    static func measured(_ pass: ConvolutionPassKind, _ s: ConvolutionSizes, batch: Int) -> ConvolutionKernel {
        // 1x1 stride-2 shortcuts: a strided gather and a small GEMM, which im2col does as fast
        // (forward 0.7-1.0x, the gradients 0.9-1.9x, varying run to run).
        if s.kh == 1 && s.kw == 1 { return .reference }
        // Grey images: the blocked layout pads the one input channel to a block of 8, and the input
        // and weight gradients ran 2-6x slower than im2col (forward about even).
        if s.c == 1 { return .reference }
        // Output channels below a block: the same padding falls on the output (not measured: no
        // model of the zoo has such a layer), so the verified reference path stays.
        if s.o < 8 { return .reference }
        // RGB stems: forward and weight gradient gain (1.3x and 1.6x); the input gradient, which only
        // input-gradient caching asks for, is padded from 3 channels to 8 and does not.
        if s.c < 8 && pass == .inputGradient { return .reference }
        return .oneDNNBlocked
    }
}

/// Runs `pass` on oneDNN when the kernel for it (forced or measured) is a oneDNN one and the
/// operands are float32, giving its result of `outShape`; nil when the reference kernel should run
/// instead. Operands in the order of `ConvolutionPrimitive.execute`. With the blocked kernel,
/// activations are handed over in the channel-blocked layout when they hold it, an input reordered
/// into it keeps that copy (the weight gradient reads the same input and output gradient again),
/// and an activation result stays blocked (Tensor.swift's layout rule).
/// With `fused` (forward only), oneDNN's inference pass adds the bias `[O]` and applies the ReLU.
func convolutionOnDNNL(_ pass: ConvolutionPassKind, _ first: Tensor, _ second: Tensor, outShape: [Int],
                       _ s: ConvolutionSizes, batch: Int, fused: (bias: Tensor, relu: Bool)? = nil) -> Tensor? {
    let forced = ConvolutionKernel.forced
    var kernel = ConvolutionKernel.choice(pass, s, batch: batch)
    // The rule's 1x1 shortcuts were timed with reorders on both sides; an input already held
    // blocked needs none, and the result stays blocked for the batch norm and the sum after it.
    if kernel == .reference, forced == nil, s.kh == 1, s.kw == 1, s.geometry.groups == 1, s.c >= 8, s.o >= 8, first.blocked != nil {
        kernel = .oneDNNBlocked
    }
    guard first.dtype == .float32, kernel != .reference else { return nil }
    let shape = ConvolutionShape(input: [batch, s.c, s.h, s.w], weight: [s.o, s.c, s.kh, s.kw],
                                 stride: s.geometry.stride, padding: s.geometry.padding)
    do {
        let dnnlPass = fused.map { $0.relu ? .inferenceReLU : .inference } ?? pass.dnnl
        let primitive = try ConvolutionPrimitive.cached(shape, pass: dnnlPass, layout: kernel == .oneDNNPlain ? .plain : .blocked,
                                                        threads: ComputeThreads.count)
        // The weight gradient is the last pass to read its operands: no copy of them is kept.
        let keeps = pass != .weightGradient
        func operand(_ tensor: Tensor, _ index: Int) -> OperandBuffer {
            guard let blocks = primitive.blocks(ofOperand: index) else { return .plain(tensor.pointer(Float.self)) }
            if let held = tensor.blockedPointer(blocks) { return .blocked(held) }
            return keeps ? .blocked(tensor.blockedValues(blocks)) : .plain(tensor.pointer(Float.self))
        }
        let out = primitive.blocks(ofOperand: 2).map { Tensor.blockedOutput(outShape, blocks: $0) }
            ?? Tensor(uninitializedShape: outShape, dtype: .float32)
        let result: OperandBuffer = out.isBlockedOnly ? .blocked(out.blocked!.pointer) : .plain(out.pointer(Float.self))
        try primitive.execute(operand(first, 0), operand(second, 1), bias: fused.map { $0.bias.pointer(Float.self) }, into: result)
        return out
    } catch {
        // A kernel asked for by name must run (a test or benchmark would otherwise measure the
        // reference while believing it measured oneDNN); the rule's choice falls back.
        if let forced { fatalError("\(error) (convolutions forced to \(forced.rawValue))") }
        DNNLFailures.shared.report(error, fallback: "using the im2col convolution for \(pass) of \(shape)")
        return nil
    }
}

/// oneDNN failures seen so far (convolutions and products): each distinct one is reported once on
/// stderr, and the reference kernel computes the result (correct, only slower).
final class DNNLFailures: @unchecked Sendable {
    static let shared = DNNLFailures()
    private let lock = NSLock()
    private var seen: Set<String> = []

    /// Reports `error` unless it was seen before, saying what runs instead (`fallback`).
    func report(_ error: Error, fallback: String) {
        let message = "\(error)"
        lock.lock()
        let isNew = seen.insert(message).inserted
        lock.unlock()
        if isNew {
            FileHandle.standardError.write(Data("warning: \(message); \(fallback)\n".utf8))
        }
    }
}
