// Tensors in oneDNN's channel-blocked layout (the rule is in Tensor.swift's header): the blocked
// copy a tensor may hold, the reorders to and from row-major, and the elementwise kernels that run
// on blocked operands unchanged (a blocked buffer with no channel padding is a permutation of the
// row-major one, the same for every operand of one shape).
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
        do {
            try LayoutReorder.toPlain(pointer, plain.pointer(Float.self), dims: shape, blocks: blocks, threads: ComputeThreads.count)
        } catch {
            DNNLFailures.shared.report(error, fallback: "reordering in Swift")
            blockedCopy(shape, blocks.size, toBlocked: false, plain.pointer(Float.self), pointer)
        }
        return plain
    }

    /// `tensor`'s row-major values reordered into `blocks`.
    init(reordering tensor: Tensor, to blocks: ChannelBlocks) {
        self.init(uninitializedShape: tensor.shape, blocks: blocks)
        do {
            try LayoutReorder.toBlocked(tensor.pointer(Float.self), pointer, dims: tensor.shape, blocks: blocks, threads: ComputeThreads.count)
        } catch {
            DNNLFailures.shared.report(error, fallback: "reordering in Swift")
            blockedCopy(tensor.shape, blocks.size, toBlocked: true, tensor.pointer(Float.self), pointer)
        }
    }
}

/// Copies between row-major `plain` `[N,C,H,W]` and `blocked` `[N,C/k,H,W,k]`, in the direction
/// `toBlocked` says: the reference for oneDNN's reorder.
private func blockedCopy(_ shape: [Int], _ k: Int, toBlocked: Bool, _ plain: UnsafeMutablePointer<Float>,
                         _ blocked: UnsafeMutablePointer<Float>) {
    let (n, c, spatial) = (shape[0], shape[1], shape[2] * shape[3])
    for image in 0..<n {
        for channel in 0..<c {
            let row = plain + (image * c + channel) * spatial
            let column = blocked + ((image * (c / k) + channel / k) * spatial) * k + channel % k
            for i in 0..<spatial {
                if toBlocked { column[i * k] = row[i] } else { row[i] = column[i * k] }
            }
        }
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
