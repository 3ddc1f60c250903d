// oneDNN's channel-blocked layout of activations, the one its convolutions and batch norms run
// fastest in: `[N,C,H,W]` stored as `[N, C/k, H, W, k]` (`nChw8c` for AVX2, `nChw16c` for AVX-512).
// Only channel counts that are a multiple of the block are used, so a blocked buffer holds exactly
// the tensor's elements (no padding) and elementwise code can run on it unchanged. The reorders
// between it and plain NCHW are cached primitives, as convolutions are.
internal import CDNNL

/// The channel-blocked layout with blocks of `size` channels (8 or 16).
public struct ChannelBlocks: Hashable, Sendable, CustomStringConvertible {
    /// Channels per block.
    public let size: Int

    /// The layouts oneDNN's kernels choose on x86: 8 channels per block (AVX2), 16 (AVX-512).
    static let known = [ChannelBlocks(size: 8), ChannelBlocks(size: 16)]

    var tag: dnnl_format_tag_t { size == 8 ? dnnl_nChw8c : dnnl_nChw16c }

    /// The blocks oneDNN's training convolutions choose on this CPU (16 channels with AVX-512, else
    /// 8), when both channel counts are a multiple of them; nil otherwise.
    static func training(inputChannels: Int, outputChannels: Int) -> ChannelBlocks? {
        let blocks = ChannelBlocks(size: GEMM.runsAVX512 ? 16 : 8)
        return inputChannels % blocks.size == 0 && outputChannels % blocks.size == 0 ? blocks : nil
    }

    /// The descriptor of `dims` `[N,C,H,W]` in this layout.
    func descriptor(_ dims: [Int], of user: String) throws -> MemoryDescriptor {
        try MemoryDescriptor(dims, tag: tag, of: user)
    }

    /// The blocks `descriptor` of `dims` `[N,C,H,W]` is laid out in, when it is one of the known
    /// layouts and C is a multiple of its block (no padding); nil otherwise.
    static func of(_ descriptor: MemoryDescriptor, dims: [Int]) -> ChannelBlocks? {
        guard dims.count == 4 else { return nil }
        return known.first { blocks in
            dims[1] % blocks.size == 0
                && (try? blocks.descriptor(dims, of: "a layout check")).map(descriptor.sameLayout(as:)) == true
        }
    }

    public var description: String { "nChw\(size)c" }
}

/// Copies of float32 activations `[N,C,H,W]` between plain NCHW and a channel-blocked layout.
public enum LayoutReorder {
    /// Writes `plain` (NCHW) into `blocked` in `blocks`' layout, on `threads` OpenMP threads.
    public static func toBlocked(_ plain: UnsafePointer<Float>, _ blocked: UnsafeMutablePointer<Float>, dims: [Int],
                                 blocks: ChannelBlocks, threads: Int) throws {
        try run(dims: dims, blocks: blocks, toBlocked: true, threads: threads,
                from: UnsafeMutableRawPointer(mutating: plain), to: UnsafeMutableRawPointer(blocked))
    }

    /// Writes `blocked` (in `blocks`' layout) into `plain` (NCHW), on `threads` OpenMP threads.
    public static func toPlain(_ blocked: UnsafePointer<Float>, _ plain: UnsafeMutablePointer<Float>, dims: [Int],
                               blocks: ChannelBlocks, threads: Int) throws {
        try run(dims: dims, blocks: blocks, toBlocked: false, threads: threads,
                from: UnsafeMutableRawPointer(mutating: blocked), to: UnsafeMutableRawPointer(plain))
    }

    private struct Key: Hashable {
        let dims: [Int]
        let blocks: ChannelBlocks
        let toBlocked: Bool
        let threads: Int
    }

    private final class Planned: @unchecked Sendable {
        let primitive: Primitive
        let from, to: MemoryDescriptor
        init(primitive: Primitive, from: MemoryDescriptor, to: MemoryDescriptor) { (self.primitive, self.from, self.to) = (primitive, from, to) }
    }

    private static let cache = PrimitiveCache<Key, Planned>(capacity: 256)

    private static func run(dims: [Int], blocks: ChannelBlocks, toBlocked: Bool, threads: Int,
                            from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer) throws {
        let key = Key(dims: dims, blocks: blocks, toBlocked: toBlocked, threads: Swift.max(1, threads))
        OpenMP.setThreads(key.threads)
        let planned = try cache.value(for: key) {
            let name = "the reorder of \(dims) " + (toBlocked ? "from nchw to \(blocks)" : "from \(blocks) to nchw")
            let plainLayout = try MemoryDescriptor(dims, tag: dnnl_nchw, of: name)
            let blockedLayout = try blocks.descriptor(dims, of: name)
            let (source, target) = toBlocked ? (plainLayout, blockedLayout) : (blockedLayout, plainLayout)
            return Planned(primitive: try reorderPrimitive(from: source, to: target, engine: try Engine.cpu(), name: name),
                           from: source, to: target)
        }
        try planned.primitive.run([Argument(number: kd_DNNL_ARG_FROM(), descriptor: planned.from, buffer: from),
                                   Argument(number: kd_DNNL_ARG_TO(), descriptor: planned.to, buffer: to)])
    }
}

/// A reorder primitive from `source`'s layout to `target`'s (user scratchpad), named `name` in errors.
func reorderPrimitive(from source: MemoryDescriptor, to target: MemoryDescriptor, engine: Engine, name: String) throws -> Primitive {
    var (from, to) = (source.raw, target.raw)
    let attributes = try userScratchpadAttributes()
    defer { dnnl_primitive_attr_destroy(attributes) }
    var descriptor: dnnl_primitive_desc_t?
    try dnnl("choosing \(name)") {
        dnnl_reorder_primitive_desc_create(&descriptor, &from, engine.handle, &to, engine.handle, attributes)
    }
    return try Primitive(descriptor: descriptor!, engine: engine, name: name)
}
