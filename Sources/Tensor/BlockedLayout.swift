// Tensors in oneDNN's channel-blocked layout (the rule is in Tensor.swift's header): the blocked
// copy a tensor may hold and the reorders to and from row-major. A blocked buffer with no channel
// padding is a permutation of the row-major one, the same for every tensor of one shape, so
// elementwise kernels run on it unchanged (Tensor+Elementwise.swift).
internal import DNNL
import Foundation
import Parallel

/// The values of a float32 `[N,C,H,W]` tensor in the channel-blocked layout `blocks` (C a
/// multiple of the block, so exactly `N*C*H*W` floats).
struct BlockedValues {
    let blocks: ChannelBlocks
    let buffer: Buffer

    /// Memory for `shape` in `blocks`, to be filled by a kernel.
    init(uninitializedShape shape: [Int], blocks: ChannelBlocks) {
        precondition(shape.count == 4 && shape[1] % blocks.size == 0, "a \(blocks) buffer for \(shape)")
        self.blocks = blocks
        buffer = Buffer(byteCount: shape.reduce(1, *) * 4)
    }

    var pointer: UnsafeMutablePointer<Float> { buffer.pointer(Float.self) }

    /// The row-major copy of these values of a tensor of `shape`.
    func rowMajor(shape: [Int]) -> Buffer {
        let plain = Buffer(byteCount: shape.reduce(1, *) * 4)
        reorder { try LayoutReorder.toPlain(pointer, plain.pointer(Float.self), dims: shape, blocks: blocks, threads: ComputeThreads.count) }
        return plain
    }

    /// `tensor`'s row-major values reordered into `blocks`.
    init(reordering tensor: Tensor, to blocks: ChannelBlocks) {
        self.init(uninitializedShape: tensor.shape, blocks: blocks)
        reorder { try LayoutReorder.toBlocked(tensor.pointer(Float.self), pointer, dims: tensor.shape, blocks: blocks, threads: ComputeThreads.count) }
    }

    /// Runs a reorder between layouts oneDNN itself chose: one that fails leaves no values to read.
    private func reorder(_ body: () throws -> Void) {
        do { try body() } catch { fatalError("\(error): a tensor's values cannot be read in another layout") }
    }
}

extension Tensor {
    /// The values in `blocks`' layout when the tensor holds them so, else nil.
    func blockedPointer(_ blocks: ChannelBlocks) -> UnsafeMutablePointer<Float>? {
        guard let blocked, blocked.blocks == blocks else { return nil }
        return blocked.pointer
    }

    /// The values in `blocks`' layout: the copy held, or a reorder of the row-major values, kept
    /// for the next op that wants it (a convolution's input is read again by its weight gradient).
    func blockedValues(_ blocks: ChannelBlocks) -> UnsafeMutablePointer<Float> {
        if let held = blockedPointer(blocks) { return held }
        let made = BlockedValues(reordering: self, to: blocks)
        keepBlocked(made)
        return made.pointer
    }

    /// A fresh float32 tensor of `shape` `[N,C,H,W]` whose values a kernel writes in `blocks`' layout.
    static func blockedOutput(_ shape: [Int], blocks: ChannelBlocks) -> Tensor {
        Tensor(shape: shape, blocked: BlockedValues(uninitializedShape: shape, blocks: blocks))
    }
}
