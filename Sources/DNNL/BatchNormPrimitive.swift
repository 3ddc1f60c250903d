// Training-mode batch normalisation on oneDNN, for activations in a channel-blocked layout (its
// plain-NCHW kernel is slower than the engine's own): the forward pass with batch statistics and
// the backward pass giving the input, scale and shift gradients, created once per shape and cached.
internal import CDNNL

/// The forward and backward batch-norm primitives of one shape; get them from `cached`.
public final class BatchNormPrimitive: @unchecked Sendable {
    /// `[N,C,H,W]` and the layout they are held in.
    public let dims: [Int]
    public let blocks: ChannelBlocks
    /// The OpenMP team size it was planned for and runs with.
    public let threads: Int

    private let data: MemoryDescriptor
    private let scaleShift: MemoryDescriptor
    private let statistic: MemoryDescriptor
    private let forwardPrimitive: Primitive
    private let backwardPrimitive: Primitive

    /// The cached primitives for `dims` in `blocks` with `eps`, on `threads` threads.
    public static func cached(dims: [Int], blocks: ChannelBlocks, eps: Float, threads: Int) throws -> BatchNormPrimitive {
        let key = Key(dims: dims, blocks: blocks, eps: eps, threads: Swift.max(1, threads))
        return try cache.value(for: key) { try BatchNormPrimitive(key) }
    }

    private struct Key: Hashable {
        let dims: [Int]
        let blocks: ChannelBlocks
        let eps: Float
        let threads: Int
    }

    private static let cache = PrimitiveCache<Key, BatchNormPrimitive>(capacity: 256)

    private init(_ key: Key) throws {
        (dims, blocks, threads) = (key.dims, key.blocks, key.threads)
        let engine = try Engine.cpu()
        let name = "the batch norm of \(dims) (\(blocks))"
        OpenMP.setThreads(threads)
        data = try blocks.descriptor(dims, of: name)
        scaleShift = try MemoryDescriptor([2, dims[1]], tag: dnnl_nc, of: name)
        statistic = try MemoryDescriptor([dims[1]], tag: dnnl_x, of: name)
        let attributes = try userScratchpadAttributes()
        defer { dnnl_primitive_attr_destroy(attributes) }
        var source = data.raw
        var forward = dnnl_batch_normalization_desc_t()
        try dnnl("describing \(name)") {
            dnnl_batch_normalization_forward_desc_init(&forward, dnnl_forward_training, &source, key.eps, dnnl_use_scaleshift.rawValue)
        }
        var forwardDescriptor: dnnl_primitive_desc_t?
        try dnnl("choosing an implementation of \(name)") {
            dnnl_primitive_desc_create(&forwardDescriptor, &forward, attributes, engine.handle, nil)
        }
        forwardPrimitive = try Primitive(descriptor: forwardDescriptor!, engine: engine, name: name)
        var hint: dnnl_primitive_desc_t?
        try dnnl("choosing an implementation of \(name)") {
            dnnl_primitive_desc_create(&hint, &forward, attributes, engine.handle, nil)
        }
        var backward = dnnl_batch_normalization_desc_t()
        var backwardDescriptor: dnnl_primitive_desc_t?
        do {
            var (gradient, input) = (data.raw, data.raw)
            try dnnl("describing the backward pass of \(name)") {
                dnnl_batch_normalization_backward_desc_init(&backward, dnnl_backward, &gradient, &input, key.eps, dnnl_use_scaleshift.rawValue)
            }
            try dnnl("choosing an implementation of the backward pass of \(name)") {
                dnnl_primitive_desc_create(&backwardDescriptor, &backward, attributes, engine.handle, hint)
            }
        } catch {
            dnnl_primitive_desc_destroy(hint)
            throw error
        }
        backwardPrimitive = try Primitive(descriptor: backwardDescriptor!, hint: hint, engine: engine, name: "the backward pass of \(name)")
    }

    /// `y = scale (x - mean) / sqrt(variance + eps) + shift` with the batch's mean and biased
    /// variance over N, H, W: `x`, `y` in the blocked layout; `scaleShift` `[2,C]` (scale row, then
    /// shift row); writes `mean` and `variance` `[C]`.
    public func forward(_ x: UnsafePointer<Float>, scaleShift weights: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>) throws {
        OpenMP.setThreads(threads)
        try forwardPrimitive.run([
            Argument(number: kd_DNNL_ARG_SRC(), descriptor: data, buffer: UnsafeMutableRawPointer(mutating: x)),
            Argument(number: kd_DNNL_ARG_SCALE_SHIFT(), descriptor: scaleShift, buffer: UnsafeMutableRawPointer(mutating: weights)),
            Argument(number: kd_DNNL_ARG_DST(), descriptor: data, buffer: UnsafeMutableRawPointer(y)),
            Argument(number: kd_DNNL_ARG_MEAN(), descriptor: statistic, buffer: UnsafeMutableRawPointer(mean)),
            Argument(number: kd_DNNL_ARG_VARIANCE(), descriptor: statistic, buffer: UnsafeMutableRawPointer(variance)),
        ])
    }

    /// The gradients of the forward pass against upstream `g` (blocked, like `x`), given the
    /// forward's `mean` and `variance`: the input gradient `gx` (blocked) and `[2,C]` scale and
    /// shift gradients `gScaleShift`.
    public func backward(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, scaleShift weights: UnsafePointer<Float>,
                         mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
                         into gx: UnsafeMutablePointer<Float>, gScaleShift: UnsafeMutablePointer<Float>) throws {
        OpenMP.setThreads(threads)
        try backwardPrimitive.run([
            Argument(number: kd_DNNL_ARG_SRC(), descriptor: data, buffer: UnsafeMutableRawPointer(mutating: x)),
            Argument(number: kd_DNNL_ARG_DIFF_DST(), descriptor: data, buffer: UnsafeMutableRawPointer(mutating: g)),
            Argument(number: kd_DNNL_ARG_SCALE_SHIFT(), descriptor: scaleShift, buffer: UnsafeMutableRawPointer(mutating: weights)),
            Argument(number: kd_DNNL_ARG_MEAN(), descriptor: statistic, buffer: UnsafeMutableRawPointer(mutating: mean)),
            Argument(number: kd_DNNL_ARG_VARIANCE(), descriptor: statistic, buffer: UnsafeMutableRawPointer(mutating: variance)),
            Argument(number: kd_DNNL_ARG_DIFF_SRC(), descriptor: data, buffer: UnsafeMutableRawPointer(gx)),
            Argument(number: kd_DNNL_ARG_DIFF_SCALE_SHIFT(), descriptor: scaleShift, buffer: UnsafeMutableRawPointer(gScaleShift)),
        ])
    }
}
