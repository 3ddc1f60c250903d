// An epoch's mini-batches, the one place they are planned: a shuffle of given images (the teacher,
// a student on its labelled images alone), or random blocks of consecutive cache rows (students
// reading the cache, one read per block), each seeded by the run's seed and the epoch.
import Tensor

/// How an epoch's images are cut into batches.
public enum BatchPlanner: Sendable {
    /// `indices` shuffled and cut into batches.
    case shuffled(indices: [Int])
    /// The `count` images cut into blocks of `blockRows` consecutive ones, the blocks shuffled,
    /// `batchSize / blockRows` blocks a batch; images in `excluded` are left out.
    case blocks(count: Int, blockRows: Int, excluded: Set<Int>)

    /// The batches of epoch `epoch` (1-based).
    public func batches(epoch: Int, batchSize: Int, seed: UInt64) -> [[Int]] {
        var generator = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(epoch))
        switch self {
        case .shuffled(var order):
            order.shuffle(using: &generator)
            return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<Swift.min(order.count, $0 + batchSize)]) }
        case .blocks(let count, let blockRows, let excluded):
            let batches = blockShuffledBatches(count: count, batchSize: batchSize, blockRows: blockRows, generator: &generator)
                .map { $0.flatMap { Array($0) } }
            return excluded.isEmpty ? batches : batches.map { $0.filter { !excluded.contains($0) } }.filter { !$0.isEmpty }
        }
    }
}

/// An epoch's mini-batches as random blocks of consecutive images: the images are cut into blocks
/// of `blockRows`, the blocks shuffled, and each batch takes `batchSize / blockRows` of them.
/// Reading whole blocks costs one read each instead of one per image.
public func blockShuffledBatches(count: Int, batchSize: Int, blockRows: Int, generator: inout SeededGenerator) -> [[Range<Int>]] {
    var blocks = stride(from: 0, to: count, by: blockRows).map { $0..<Swift.min(count, $0 + blockRows) }
    blocks.shuffle(using: &generator)
    let perBatch = Swift.max(1, batchSize / blockRows)
    return stride(from: 0, to: blocks.count, by: perBatch).map { Array(blocks[$0..<Swift.min(blocks.count, $0 + perBatch)]) }
}
