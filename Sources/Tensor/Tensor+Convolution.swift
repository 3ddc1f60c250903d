// 2-D convolution (NCHW input, [out,in/groups,kh,kw] weights, dilation 1) as im2col + GEMM per image
// and group, and its two adjoints: `convolutionInputGradient` (col2im of W^T x G) and
// `convolutionWeightGradient` (G x im2col^T). Each of the three is the others' derivative, so
// convolutions differentiate to any order (see Derivatives.swift). Images are split over the
// compute threads. Grouped convolutions (depthwise: groups == channels) run the same kernels on
// each group's channel slice; with one group the offsets are zero and nothing else changes.
// Ungrouped float32 passes go to oneDNN where it is faster (Convolution+DNNL.swift); this file is
// the reference path.
import BLAS
import Parallel

/// Stride, zero padding and channel groups of a convolution, stride and padding the same along both spatial axes.
public struct ConvolutionGeometry: Equatable, Sendable {
    /// Step of the kernel along each spatial axis.
    public var stride: Int
    /// Zeros added on each side of both spatial axes.
    public var padding: Int
    /// Channel groups (PyTorch's `groups`): group g's `O/groups` outputs see only its `C/groups` input channels.
    /// 1 is an ordinary convolution, `C` a depthwise one.
    public var groups: Int

    /// Stride 1, no padding and one group by default.
    public init(stride: Int = 1, padding: Int = 0, groups: Int = 1) {
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// The output size along an axis of `input` elements for a kernel of `kernel`.
    func output(_ input: Int, kernel: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }
}

/// The sizes one group of one image goes through: input `[c,h,w]`, kernel `kh x kw`, output `[o,oh,ow]`
/// (`c` and `o` per group; an image has `groups` of each).
struct ConvolutionSizes {
    let c, h, w, kh, kw, o, oh, ow: Int
    let geometry: ConvolutionGeometry

    init(input: [Int], weight: [Int], geometry: ConvolutionGeometry) {
        (c, h, w) = (input[1] / geometry.groups, input[2], input[3])
        (o, kh, kw) = (weight[0] / geometry.groups, weight[2], weight[3])
        self.geometry = geometry
        oh = geometry.output(h, kernel: kh)
        ow = geometry.output(w, kernel: kw)
    }

    /// Rows of the column matrix (`c*kh*kw`) and its columns (`oh*ow`).
    var columnRows: Int { c * kh * kw }
    var columnCount: Int { oh * ow }
    /// A 1x1, stride-1, unpadded convolution needs no column matrix: the image is one.
    var isPointwise: Bool { kh == 1 && kw == 1 && geometry.stride == 1 && geometry.padding == 0 }
    /// Offsets of group `group` of image `image` in the input (`[N,groups*c,h,w]`), the output (`[N,groups*o,oh,ow]`)
    /// and the weight (`[groups*o,c,kh,kw]`).
    func inputOffset(_ image: Int, _ group: Int) -> Int { (image * geometry.groups + group) * c * h * w }
    func outputOffset(_ image: Int, _ group: Int) -> Int { (image * geometry.groups + group) * o * columnCount }
    func weightOffset(_ group: Int) -> Int { group * o * columnRows }
}

/// Writes the column matrix `[c*kh*kw, oh*ow]` of one image `[c,h,w]`.
private func im2col<T: TensorScalar>(_ image: UnsafeMutablePointer<T>, _ columns: UnsafeMutablePointer<T>, _ s: ConvolutionSizes) {
    let (stride, padding) = (s.geometry.stride, s.geometry.padding)
    for channel in 0..<s.c {
        let plane = image + channel * s.h * s.w
        for ki in 0..<s.kh {
            for kj in 0..<s.kw {
                let row = columns + ((channel * s.kh + ki) * s.kw + kj) * s.columnCount
                // Output columns whose input column is inside the image.
                let first = Swift.max(0, (padding - kj + stride - 1) / stride)
                let last = Swift.min(s.ow, (s.w + padding - kj + stride - 1) / stride)
                for oy in 0..<s.oh {
                    let target = row + oy * s.ow
                    let iy = oy * stride - padding + ki
                    guard iy >= 0 && iy < s.h, first < last else {
                        for ox in 0..<s.ow { target[ox] = 0 }
                        continue
                    }
                    // Explicit loops: rows are short (tens of values), where memmove's call costs more than the copy.
                    for ox in 0..<first { target[ox] = 0 }
                    for ox in last..<s.ow { target[ox] = 0 }
                    let source = plane + iy * s.w - padding + kj
                    if stride == 1 {
                        for ox in first..<last { target[ox] = source[ox] }
                    } else {
                        for ox in first..<last { target[ox] = source[ox * stride] }
                    }
                }
            }
        }
    }
}

/// Adds the column matrix of one image back onto the image (the adjoint of `im2col`).
private func col2im<T: TensorScalar>(_ columns: UnsafeMutablePointer<T>, _ image: UnsafeMutablePointer<T>, _ s: ConvolutionSizes) {
    let (stride, padding) = (s.geometry.stride, s.geometry.padding)
    image.update(repeating: 0, count: s.c * s.h * s.w)
    for channel in 0..<s.c {
        let plane = image + channel * s.h * s.w
        for ki in 0..<s.kh {
            for kj in 0..<s.kw {
                let row = columns + ((channel * s.kh + ki) * s.kw + kj) * s.columnCount
                let first = Swift.max(0, (padding - kj + stride - 1) / stride)
                let last = Swift.min(s.ow, (s.w + padding - kj + stride - 1) / stride)
                guard first < last else { continue }
                for oy in 0..<s.oh {
                    let iy = oy * stride - padding + ki
                    guard iy >= 0 && iy < s.h else { continue }
                    let source = row + oy * s.ow
                    let target = plane + iy * s.w - padding + kj
                    if stride == 1 {
                        for ox in first..<last { target[ox] += source[ox] }
                    } else {
                        for ox in first..<last { target[ox * stride] += source[ox] }
                    }
                }
            }
        }
    }
}

/// The frame the three kernels share: images split over the compute threads, each worker with a
/// column-matrix scratch of its own, every product on one thread (GEMM.swift). `body(worker, images, columns)`.
private func forEachImageRange<T: TensorScalar>(_: T.Type, images n: Int, _ s: ConvolutionSizes,
                                                _ body: @Sendable (Int, Range<Int>, UnsafeMutablePointer<T>) -> Void) {
    let workers = Swift.min(ComputeThreads.count, n)
    let scratch = Tensor(uninitializedShape: [Swift.max(1, workers), s.columnRows * s.columnCount], dtype: T.dtype)
    let columns = SendablePointer(base: scratch.pointer(T.self))
    parallelRanges(n, workers: workers) { worker, images in
        body(worker, images, columns.base + worker * s.columnRows * s.columnCount)
    }
    withExtendedLifetime(scratch) {}
}

private func convolutionKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ weight: Tensor, _ out: Tensor, _ s: ConvolutionSizes) {
    let (input, filters, output) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: weight.pointer(T.self)),
                                    SendablePointer(base: out.pointer(T.self)))
    let choice = GEMMKernel.choice(T.self, transposeB: false, m: s.o, n: s.columnCount, k: s.columnRows, ldb: s.columnCount)
    forEachImageRange(T.self, images: x.shape[0], s) { _, images, matrix in
        for image in images {
            for group in 0..<s.geometry.groups {
                let source = input.base + s.inputOffset(image, group)
                if !s.isPointwise { im2col(source, matrix, s) }
                gemm(choice, .none, .none, m: s.o, n: s.columnCount, k: s.columnRows,
                     a: filters.base + s.weightOffset(group), lda: s.columnRows,
                     b: s.isPointwise ? source : matrix, ldb: s.columnCount,
                     c: output.base + s.outputOffset(image, group), ldc: s.columnCount)
            }
        }
    }
}

private func inputGradientKernel<T: TensorScalar>(_: T.Type, _ grad: Tensor, _ weight: Tensor, _ out: Tensor, _ s: ConvolutionSizes) {
    let (upstream, filters, output) = (SendablePointer(base: grad.pointer(T.self)), SendablePointer(base: weight.pointer(T.self)),
                                       SendablePointer(base: out.pointer(T.self)))
    let choice = GEMMKernel.choice(T.self, transposeB: false, m: s.columnRows, n: s.columnCount, k: s.o, ldb: s.columnCount)
    forEachImageRange(T.self, images: grad.shape[0], s) { _, images, matrix in
        for image in images {
            for group in 0..<s.geometry.groups {
                let target = output.base + s.inputOffset(image, group)
                gemm(choice, .transpose, .none, m: s.columnRows, n: s.columnCount, k: s.o,
                     a: filters.base + s.weightOffset(group), lda: s.columnRows,
                     b: upstream.base + s.outputOffset(image, group), ldb: s.columnCount,
                     c: s.isPointwise ? target : matrix, ldc: s.columnCount)
                if !s.isPointwise { col2im(matrix, target, s) }
            }
        }
    }
}

private func weightGradientKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ grad: Tensor, _ out: Tensor, _ s: ConvolutionSizes) {
    let n = x.shape[0]
    let workers = Swift.max(1, Swift.min(ComputeThreads.count, n))
    let weightSize = s.geometry.groups * s.o * s.columnRows
    let partialsTensor = Tensor.zeros([workers, weightSize], dtype: T.dtype)
    let partials = SendablePointer(base: partialsTensor.pointer(T.self))
    let (input, upstream) = (SendablePointer(base: x.pointer(T.self)), SendablePointer(base: grad.pointer(T.self)))
    let choice = GEMMKernel.choice(T.self, transposeB: true, m: s.o, n: s.columnRows, k: s.columnCount, ldb: s.columnCount)
    forEachImageRange(T.self, images: n, s) { worker, images, matrix in
        for image in images {
            for group in 0..<s.geometry.groups {
                let source = input.base + s.inputOffset(image, group)
                if !s.isPointwise { im2col(source, matrix, s) }
                gemm(choice, .none, .transpose, m: s.o, n: s.columnRows, k: s.columnCount,
                     a: upstream.base + s.outputOffset(image, group), lda: s.columnCount,
                     b: s.isPointwise ? source : matrix, ldb: s.columnCount,
                     beta: 1, c: partials.base + worker * weightSize + s.weightOffset(group), ldc: s.columnRows)
            }
        }
    }
    let target = out.pointer(T.self)
    target.update(from: partials.base, count: weightSize)
    for worker in 1..<workers {
        let partial = partials.base + worker * weightSize
        for i in 0..<weightSize { target[i] += partial[i] }
    }
}

extension Tensor {
    /// Cross-correlation of `input [N,C,H,W]` with `weight [O,C/groups,kh,kw]`: `[N,O,oh,ow]`, where output
    /// channel `o` sees the input channels of its group `o / (O/groups)`. Add a bias separately
    /// (`+ bias.reshaped([1, O, 1, 1])`).
    public static func convolution(_ input: Tensor, _ weight: Tensor, geometry: ConvolutionGeometry = .init()) -> Tensor {
        let s = checkedSizes(input, weight, geometry)
        let outShape = [input.shape[0], weight.shape[0], s.oh, s.ow]
        if let out = convolutionOnDNNL(.forward, input, weight, outShape: outShape, s, batch: input.shape[0]) {
            return out.recorded(.convolution(geometry), [input, weight])
        }
        let out = Tensor(uninitializedShape: outShape, dtype: input.dtype)
        switch input.dtype {
        case .float32: convolutionKernel(Float.self, input, weight, out, s)
        case .float64: convolutionKernel(Double.self, input, weight, out, s)
        }
        return out.recorded(.convolution(geometry), [input, weight])
    }

    /// `convolution(input, weight) + bias`, then ReLU when `relu`, bias `[O]`: `[N,O,oh,ow]`.
    /// When no op would be recorded and oneDNN runs the shape's forward pass, one oneDNN pass adds
    /// the bias and applies the ReLU as it writes (evaluation); otherwise the ops run one by one.
    public static func convolution(_ input: Tensor, _ weight: Tensor, bias: Tensor, geometry: ConvolutionGeometry,
                                   relu: Bool) -> Tensor {
        precondition(bias.shape == [weight.shape[0]] && bias.dtype == input.dtype,
                     "convolution bias \(bias.shape) for weight \(weight.shape)")
        let records = GradMode.isRecording && [input, weight, bias].contains(where: \.requiresGrad)
        let s = checkedSizes(input, weight, geometry)
        if !records, let out = convolutionOnDNNL(.forward, input, weight, outShape: [input.shape[0], weight.shape[0], s.oh, s.ow], s,
                                       batch: input.shape[0], fused: (bias, relu)) {
            return out
        }
        let y = convolution(input, weight, geometry: geometry) + bias.channelShaped(rank: 4)
        return relu ? y.relu() : y
    }

    /// The sizes of a convolution of `input` with `weight`, stopping on operands that do not fit.
    private static func checkedSizes(_ input: Tensor, _ weight: Tensor, _ geometry: ConvolutionGeometry) -> ConvolutionSizes {
        precondition(input.rank == 4 && weight.rank == 4 && input.shape[1] == weight.shape[1] * geometry.groups
                     && weight.shape[0] % geometry.groups == 0 && input.dtype == weight.dtype,
                     "convolution of input \(input.shape) with weight \(weight.shape) in \(geometry.groups) groups")
        let s = ConvolutionSizes(input: input.shape, weight: weight.shape, geometry: geometry)
        precondition(s.oh > 0 && s.ow > 0, "convolution: kernel \(s.kh)x\(s.kw) larger than the padded input \(s.h)x\(s.w)")
        return s
    }

    /// The gradient of a convolution with respect to its input, given the output gradient `grad`
    /// `[N,O,oh,ow]`: `[N,C,H,W]` for the input shape `inputShape`.
    public static func convolutionInputGradient(_ grad: Tensor, _ weight: Tensor, inputShape: [Int],
                                                geometry: ConvolutionGeometry) -> Tensor {
        let s = ConvolutionSizes(input: inputShape, weight: weight.shape, geometry: geometry)
        precondition(grad.shape == [inputShape[0], weight.shape[0], s.oh, s.ow],
                     "input gradient: upstream \(grad.shape) for input \(inputShape)")
        if let out = convolutionOnDNNL(.inputGradient, grad, weight, outShape: inputShape, s, batch: grad.shape[0]) {
            return out.recorded(.convolutionInputGradient(geometry), [grad, weight])
        }
        let out = Tensor(uninitializedShape: inputShape, dtype: grad.dtype)
        switch grad.dtype {
        case .float32: inputGradientKernel(Float.self, grad, weight, out, s)
        case .float64: inputGradientKernel(Double.self, grad, weight, out, s)
        }
        return out.recorded(.convolutionInputGradient(geometry), [grad, weight])
    }

    /// The gradient of a convolution with respect to its weight `[O,C/groups,kh,kw]` (`weightShape`),
    /// given its input and the output gradient `grad`.
    public static func convolutionWeightGradient(_ input: Tensor, _ grad: Tensor, weightShape: [Int],
                                                 geometry: ConvolutionGeometry) -> Tensor {
        let s = ConvolutionSizes(input: input.shape, weight: weightShape, geometry: geometry)
        precondition(grad.shape == [input.shape[0], weightShape[0], s.oh, s.ow],
                     "weight gradient: upstream \(grad.shape) for input \(input.shape)")
        if let out = convolutionOnDNNL(.weightGradient, input, grad, outShape: weightShape, s, batch: input.shape[0]) {
            return out.recorded(.convolutionWeightGradient(geometry), [input, grad])
        }
        let out = Tensor(uninitializedShape: weightShape, dtype: grad.dtype)
        switch grad.dtype {
        case .float32: weightGradientKernel(Float.self, input, grad, out, s)
        case .float64: weightGradientKernel(Double.self, input, grad, out, s)
        }
        return out.recorded(.convolutionWeightGradient(geometry), [input, grad])
    }
}
