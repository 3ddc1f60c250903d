// A float32 convolution pass on oneDNN, created once per shape, pass, layout and thread count and
// cached (as oneDNN recommends: creating a primitive searches implementations and JIT-compiles).
// Callers hand plain NCHW / OIHW buffers, which go through reorders into the blocked layout, or
// activations already in the channel-blocked layout the primitive chose (ChannelBlocks.swift).
internal import CDNNL

/// One convolution pass ready to run; get it from `ConvolutionPrimitive.cached`.
public final class ConvolutionPrimitive: @unchecked Sendable {
    /// What it computes.
    public let shape: ConvolutionShape
    public let pass: ConvolutionPass
    public let layout: ConvolutionLayout
    /// The OpenMP team size it was planned for and runs with.
    public let threads: Int

    private let convolution: Primitive
    private let operands: [Operand]
    /// The bias `[O]` of the inference passes, plain.
    private let bias: MemoryDescriptor?

    /// An operand as the caller holds it (`plain`), as the primitive wants it (`chosen`), and the
    /// reorder between the two when they differ (into `chosen` for inputs, out of it for the output).
    private struct Operand {
        let number: Int32
        let plain: MemoryDescriptor
        let chosen: MemoryDescriptor
        let reorder: Primitive?
        /// The chosen layout when it is a channel-blocked one a caller may hold activations in.
        let blocks: ChannelBlocks?
    }

    /// The cached primitive for `shape`, `pass`, `layout` and `threads`, created on first use.
    /// Throws a `DNNLError` naming the shape and the status when oneDNN cannot make it.
    public static func cached(_ shape: ConvolutionShape, pass: ConvolutionPass, layout: ConvolutionLayout,
                              threads: Int) throws -> ConvolutionPrimitive {
        let key = Key(shape: shape, pass: pass, layout: layout, threads: Swift.max(1, threads))
        return try cache.value(for: key) {
            try ConvolutionPrimitive(shape: shape, pass: pass, layout: layout, threads: key.threads)
        }
    }

    private struct Key: Hashable {
        let shape: ConvolutionShape
        let pass: ConvolutionPass
        let layout: ConvolutionLayout
        let threads: Int
    }

    private static let cache = PrimitiveCache<Key, ConvolutionPrimitive>(capacity: 512)

    private init(shape: ConvolutionShape, pass: ConvolutionPass, layout: ConvolutionLayout, threads: Int) throws {
        (self.shape, self.pass, self.layout, self.threads) = (shape, pass, layout, threads)
        let engine = try Engine.cpu()
        let name = "the \(pass.rawValue) convolution \(shape) (\(layout.rawValue))"
        // oneDNN splits the work for the team size current when the descriptor is made.
        OpenMP.setThreads(threads)
        // Inference passes ask for the training passes' channel blocks: with format `any` oneDNN's
        // AVX-512 inference kernel (brgconv) takes NHWC, which neither the engine's blocked tensors
        // nor plain ones are in, so every call would reorder its input and output (BENCHMARKS.md,
        // "The engine on an AMD EPYC Zen 5").
        let inferenceBlocks = pass.hasBias ? ChannelBlocks.training(inputChannels: shape.inputChannels, outputChannels: shape.outputChannels) : nil
        let data = layout == .plain ? dnnl_nchw : inferenceBlocks?.tag ?? dnnl_format_tag_any
        let weights = layout == .plain ? dnnl_oihw : dnnl_format_tag_any
        var source = try MemoryDescriptor(shape.inputDims, tag: data, of: name)
        var filter = try MemoryDescriptor(shape.weightDims, tag: weights, of: name)
        var destination = try MemoryDescriptor(shape.outputDims, tag: data, of: name)
        let strides: [Int64] = [Int64(shape.stride), Int64(shape.stride)]
        let padding: [Int64] = [Int64(shape.padding), Int64(shape.padding)]

        var forward = dnnl_convolution_desc_t()
        var bias = try MemoryDescriptor([shape.outputChannels], tag: dnnl_x, of: name)
        try dnnl("describing \(name)") {
            pass.hasBias
                ? dnnl_convolution_forward_desc_init(&forward, dnnl_forward_inference, dnnl_convolution_direct, &source.raw, &filter.raw,
                                                     &bias.raw, &destination.raw, strides, padding, padding)
                : dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &source.raw, &filter.raw,
                                                     nil, &destination.raw, strides, padding, padding)
        }
        self.bias = pass.hasBias ? bias : nil
        let attributes = try userScratchpadAttributes()
        defer { dnnl_primitive_attr_destroy(attributes) }
        if pass == .inferenceReLU { try appendReLU(to: attributes, of: name) }
        var forwardDescriptor: dnnl_primitive_desc_t?
        try dnnl("choosing an implementation of \(name)") {
            dnnl_primitive_desc_create(&forwardDescriptor, &forward, attributes, engine.handle, nil)
        }

        // The operands in execute's order, with the descriptor query that gives each one's layout.
        let roles: [(number: Int32, dims: [Int], tag: dnnl_format_tag_t, query: dnnl_query_t)]
        let (input, weight, output) = ((shape.inputDims, dnnl_nchw), (shape.weightDims, dnnl_oihw), (shape.outputDims, dnnl_nchw))
        switch pass {
        case .forward, .inference, .inferenceReLU:
            convolution = try Primitive(descriptor: forwardDescriptor!, engine: engine, name: name)
            roles = [(kd_DNNL_ARG_SRC(), input.0, input.1, dnnl_query_src_md),
                     (kd_DNNL_ARG_WEIGHTS(), weight.0, weight.1, dnnl_query_weights_md),
                     (kd_DNNL_ARG_DST(), output.0, output.1, dnnl_query_dst_md)]
        case .backwardData:
            convolution = try backwardPrimitive(forwardDescriptor!, attributes, engine, name) { backward in
                dnnl_convolution_backward_data_desc_init(&backward, dnnl_convolution_direct, &source.raw, &filter.raw,
                                                         &destination.raw, strides, padding, padding)
            }
            roles = [(kd_DNNL_ARG_DIFF_DST(), output.0, output.1, dnnl_query_diff_dst_md),
                     (kd_DNNL_ARG_WEIGHTS(), weight.0, weight.1, dnnl_query_weights_md),
                     (kd_DNNL_ARG_DIFF_SRC(), input.0, input.1, dnnl_query_diff_src_md)]
        case .backwardWeights:
            convolution = try backwardPrimitive(forwardDescriptor!, attributes, engine, name) { backward in
                dnnl_convolution_backward_weights_desc_init(&backward, dnnl_convolution_direct, &source.raw, &filter.raw, nil,
                                                            &destination.raw, strides, padding, padding)
            }
            roles = [(kd_DNNL_ARG_SRC(), input.0, input.1, dnnl_query_src_md),
                     (kd_DNNL_ARG_DIFF_DST(), output.0, output.1, dnnl_query_diff_dst_md),
                     (kd_DNNL_ARG_DIFF_WEIGHTS(), weight.0, weight.1, dnnl_query_diff_weights_md)]
        }

        // The caller's layouts are plain whatever the primitive computes in.
        var operands: [Operand] = []
        for (index, role) in roles.enumerated() {
            let plain = try MemoryDescriptor(role.dims, tag: role.tag, of: name)
            let chosen = convolution.layout(role.query)
            var reorder: Primitive?
            if !chosen.sameLayout(as: plain) {
                let isOutput = index == 2
                reorder = try reorderPrimitive(from: isOutput ? chosen : plain, to: isOutput ? plain : chosen, engine: engine,
                                           name: "the reorder of operand \(index) of \(name)")
            }
            let isWeight = role.query == dnnl_query_weights_md || role.query == dnnl_query_diff_weights_md
            let blocks = reorder == nil || isWeight ? nil : ChannelBlocks.of(chosen, dims: role.dims)
            operands.append(Operand(number: role.number, plain: plain, chosen: chosen, reorder: reorder, blocks: blocks))
        }
        self.operands = operands
    }

    /// oneDNN's name of the convolution implementation (`jit:avx2`, `gemm:jit`, ...).
    public var implementation: String { convolution.implementation }

    /// The channel-blocked layout operand `index` (in `execute`'s order) may be handed in or
    /// written in instead of plain NCHW, when the primitive computes in one (activations only).
    public func blocks(ofOperand index: Int) -> ChannelBlocks? { operands[index].blocks }

    /// Runs the pass on plain row-major buffers, on `threads` OpenMP threads of the calling thread:
    /// forward `(input [N,C,H,W], weight [O,C,kh,kw]) -> output [N,O,oh,ow]`; backward data
    /// `(output gradient [N,O,oh,ow], weight) -> input gradient [N,C,H,W]`; backward weights
    /// `(input, output gradient) -> weight gradient [O,C,kh,kw]`; the inference passes as forward,
    /// plus `bias` `[O]` (given exactly for them). `output` is overwritten.
    public func execute(_ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil,
                        into output: UnsafeMutablePointer<Float>) throws {
        try execute(.plain(first), .plain(second), bias: bias, into: .plain(UnsafePointer(output)))
    }

    /// Runs the pass as `execute(_:_:bias:into:)` does, each operand plain or in the blocked layout
    /// `blocks(ofOperand:)` gives for it (an operand given `.blocked` must have one). Blocked
    /// operands skip their reorder.
    public func execute(_ first: OperandBuffer, _ second: OperandBuffer, bias: UnsafePointer<Float>? = nil,
                        into output: OperandBuffer) throws {
        OpenMP.setThreads(threads)
        for (index, operand) in [first, second, output].enumerated() where operand.isBlocked {
            precondition(operands[index].blocks != nil, "operand \(index) of \(convolution.name) handed in a blocked layout it does not use")
        }
        precondition((bias != nil) == pass.hasBias, "\(convolution.name) takes \(pass.hasBias ? "a" : "no") bias")
        var arguments: [Argument] = []
        if let layout = self.bias, let bias {
            arguments.append(Argument(number: kd_DNNL_ARG_BIAS(), descriptor: layout, buffer: UnsafeMutableRawPointer(mutating: bias)))
        }
        try staged(0, [first, second, output], arguments)
    }

    /// Gives operand `index` a buffer in the layout the primitive chose (reordering a plain input
    /// into scratch memory, or lending scratch memory to a plain output), then does the next; after
    /// the last, runs the convolution and reorders a plain output's result into the caller's buffer.
    private func staged(_ index: Int, _ buffers: [OperandBuffer], _ arguments: [Argument]) throws {
        guard index < operands.count else {
            try convolution.run(arguments)
            let output = operands[2]
            if let reorder = output.reorder, !buffers[2].isBlocked {
                let written = arguments.first { $0.number == output.number }!
                try reorder.run([Argument(number: kd_DNNL_ARG_FROM(), descriptor: output.chosen, buffer: written.buffer),
                                 Argument(number: kd_DNNL_ARG_TO(), descriptor: output.plain, buffer: buffers[2].pointer)])
            }
            return
        }
        let operand = operands[index]
        let buffer = buffers[index]
        guard let reorder = operand.reorder, !buffer.isBlocked else {
            let layout = operand.reorder == nil ? operand.plain : operand.chosen
            return try staged(index + 1, buffers, arguments + [Argument(number: operand.number, descriptor: layout, buffer: buffer.pointer)])
        }
        try ScratchMemory.shared.with(operand.chosen.byteCount) { scratch in
            if index < 2 {
                try reorder.run([Argument(number: kd_DNNL_ARG_FROM(), descriptor: operand.plain, buffer: buffer.pointer),
                                 Argument(number: kd_DNNL_ARG_TO(), descriptor: operand.chosen, buffer: scratch!)])
            }
            try staged(index + 1, buffers, arguments + [Argument(number: operand.number, descriptor: operand.chosen, buffer: scratch!)])
        }
    }
}

/// A float32 operand buffer of a convolution pass: plain NCHW / OIHW, or in the channel-blocked
/// layout the primitive chose for it.
public enum OperandBuffer {
    case plain(UnsafePointer<Float>)
    case blocked(UnsafePointer<Float>)

    var isBlocked: Bool { if case .blocked = self { true } else { false } }

    var pointer: UnsafeMutableRawPointer {
        switch self {
        case .plain(let p), .blocked(let p): UnsafeMutableRawPointer(mutating: p)
        }
    }
}

/// Adds ReLU after the primitive's result (a oneDNN eltwise post-op) to `attributes`.
private func appendReLU(to attributes: dnnl_primitive_attr_t, of name: String) throws {
    var postOps: dnnl_post_ops_t?
    try dnnl("creating the post-ops of \(name)") { dnnl_post_ops_create(&postOps) }
    defer { dnnl_post_ops_destroy(postOps) }
    try dnnl("appending ReLU to \(name)") { dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0) }
    try dnnl("attaching the post-ops of \(name)") { dnnl_primitive_attr_set_post_ops(attributes, postOps) }
}

/// A backward primitive of a convolution whose forward descriptor `hint` it is made against:
/// `describe` fills its operation descriptor. `hint` is destroyed if this fails (otherwise the
/// primitive owns it).
private func backwardPrimitive(_ hint: dnnl_primitive_desc_t, _ attributes: dnnl_primitive_attr_t?, _ engine: Engine, _ name: String,
                               describe: (inout dnnl_convolution_desc_t) -> dnnl_status_t) throws -> Primitive {
    var backward = dnnl_convolution_desc_t()
    var descriptor: dnnl_primitive_desc_t?
    do {
        try dnnl("describing \(name)") { describe(&backward) }
        try dnnl("choosing an implementation of \(name)") {
            dnnl_primitive_desc_create(&descriptor, &backward, attributes, engine.handle, hint)
        }
    } catch {
        dnnl_primitive_desc_destroy(hint)
        throw error
    }
    return try Primitive(descriptor: descriptor!, hint: hint, engine: engine, name: name)
}
