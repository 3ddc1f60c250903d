// Synchronised batch norm over two in-process "ranks" (threads meeting at a rendezvous): the same
// outputs, statistics and gradients as batch norm of the whole batch, and its gradients against
// central finite differences of the ranks' summed loss. Also the gradient sum of data-parallel steps.
import Foundation
import Parallel
import Testing
import Tensor

/// Ranks of one process: each calls `sum` from its own thread; the sums are taken in rank order
/// once every rank has arrived.
final class Rendezvous: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var deposited: [[Double]?]
    private var result: [Double] = []
    private var generation = 0

    init(size: Int) {
        self.size = size
        deposited = Array(repeating: nil, count: size)
    }

    /// `values` of `rank` summed with every other rank's, element by element.
    func sum(_ values: [Double], rank: Int) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        deposited[rank] = values
        if deposited.allSatisfy({ $0 != nil }) {
            result = deposited.dropFirst().reduce(deposited[0]!) { zip($0, $1!).map(+) }
            deposited = Array(repeating: nil, count: size)
            generation += 1
            condition.broadcast()
        }
        while generation == mine { condition.wait() }
        // The next round cannot overwrite `result` before this rank has deposited again.
        return result
    }

    /// Runs `body(group)` for every rank on its own thread and returns the results in rank order
    /// (the tensors `body` reads are only read).
    func run<R>(_ body: @escaping (ThreadRank) -> R) -> [R] {
        let results = ResultBox<R>(count: size)
        let done = DispatchGroup()
        let shared = Unchecked(value: body)
        for rank in 0..<size {
            done.enter()
            let thread = Thread { results.set(rank, shared.value(ThreadRank(rank: rank, rendezvous: self))); done.leave() }
            thread.start()
        }
        done.wait()
        return results.values
    }
}

struct Unchecked<T>: @unchecked Sendable { let value: T }

final class ResultBox<R>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [R?]
    init(count: Int) { stored = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: R) { lock.withLock { stored[index] = value } }
    var values: [R] { lock.withLock { stored.map { $0! } } }
}

/// One rank of a `Rendezvous`, as a `ProcessGroup`.
final class ThreadRank: ProcessGroup, @unchecked Sendable {
    let rank: Int
    let rendezvous: Rendezvous
    var size: Int { rendezvous.size }
    init(rank: Int, rendezvous: Rendezvous) { (self.rank, self.rendezvous) = (rank, rendezvous) }

    func sum(_ values: UnsafeMutableBufferPointer<Float>) {
        let sums = rendezvous.sum(values.map(Double.init), rank: rank)
        for index in values.indices { values[index] = Float(sums[index]) }
    }

    func sum(_ values: UnsafeMutableBufferPointer<Double>) {
        let sums = rendezvous.sum(Array(values), rank: rank)
        for index in values.indices { values[index] = sums[index] }
    }
}

/// Rows `rows` of `[N, ...]` as a new tensor.
private func rows(_ x: Tensor, _ rows: Range<Int>) -> Tensor {
    let per = x.count / x.shape[0]
    return Tensor(shape: [rows.count] + x.shape.dropFirst(), doubles: Array(x.doubles[(rows.lowerBound * per)..<(rows.upperBound * per)]))
}

/// The gradients of `sum(w * bn(x))` for x, gamma and beta, the loss, and the output, all as doubles.
private struct Outcome: Sendable { var loss: Double, output: [Double], gx: [Double], ggamma: [Double], gbeta: [Double], mean: [Double], variance: [Double] }

/// Batch norm of `x` on one process, or of its row slices on two synchronised ranks (outputs and
/// input gradients joined in row order, parameter gradients summed).
private func batchNormOutcome(_ x: Tensor, gamma: Tensor, beta: Tensor, weights: Tensor, ranks: Int?) -> Outcome {
    func one(_ x: Tensor, _ weights: Tensor, group: (any ProcessGroup)?) -> Outcome {
        let (xr, g, b) = (x.copy(), gamma.copy(), beta.copy())
        for t in [xr, g, b] { t.requiresGrad = true }
        let (output, mean, variance): (Tensor, Tensor, Tensor)
        if let group {
            let result = Tensor.synchronizedBatchNorm(xr, gamma: g, beta: b, eps: 1e-5, group: group)
            (output, mean, variance) = (result.output, result.mean, result.variance)
        } else {
            (output, mean, variance) = Tensor.batchNorm(xr, gamma: g, beta: b, eps: 1e-5)
        }
        let loss = (output * weights).sum()
        loss.backward()
        return Outcome(loss: loss.item, output: output.doubles, gx: xr.grad!.doubles, ggamma: g.grad!.doubles, gbeta: b.grad!.doubles,
                       mean: mean.doubles, variance: variance.doubles)
    }
    guard let ranks else { return one(x, weights, group: nil) }
    let parts = Rendezvous(size: ranks).run { group in
        let slice = group.slice(of: x.shape[0])
        return one(rows(x, slice), rows(weights, slice), group: group)
    }
    return Outcome(loss: parts.map(\.loss).reduce(0, +), output: parts.flatMap(\.output), gx: parts.flatMap(\.gx),
                   ggamma: parts.dropFirst().reduce(parts[0].ggamma) { zip($0, $1.ggamma).map(+) },
                   gbeta: parts.dropFirst().reduce(parts[0].gbeta) { zip($0, $1.gbeta).map(+) },
                   mean: parts[0].mean, variance: parts[0].variance)
}

private func maxDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

@Suite struct SynchronizedBatchNormTests {
    let x = randomInputs([[7, 3, 2, 2]], seed: 4)[0]
    let gamma = randomInputs([[3]], seed: 5, map: awayFromZero)[0]
    let beta = randomInputs([[3]], seed: 6)[0]
    let weights = randomInputs([[7, 3, 2, 2]], seed: 7)[0]

    @Test func twoRanksGiveTheWholeBatchNorm() {
        let whole = batchNormOutcome(x, gamma: gamma, beta: beta, weights: weights, ranks: nil)
        for ranks in [2, 3] {
            let split = batchNormOutcome(x, gamma: gamma, beta: beta, weights: weights, ranks: ranks)
            #expect(maxDifference(whole.output, split.output) < 1e-12, "\(ranks) ranks: outputs")
            #expect(maxDifference(whole.mean, split.mean) < 1e-12 && maxDifference(whole.variance, split.variance) < 1e-12, "\(ranks) ranks: statistics")
            #expect(maxDifference(whole.gx, split.gx) < 1e-12, "\(ranks) ranks: input gradient")
            #expect(maxDifference(whole.ggamma, split.ggamma) < 1e-12 && maxDifference(whole.gbeta, split.gbeta) < 1e-12, "\(ranks) ranks: gamma, beta")
        }
        // Without the synchronisation each rank's statistics are its own: the check can fail.
        let alone = Rendezvous(size: 2).run { group in
            Tensor.batchNorm(rows(x, group.slice(of: 7)), gamma: gamma, beta: beta, eps: 1e-5).output.doubles
        }
        #expect(maxDifference(whole.output, alone.flatMap { $0 }) > 1e-2)
    }

    @Test func gradientsMatchFiniteDifferencesAcrossRanks() {
        let analytic = batchNormOutcome(x, gamma: gamma, beta: beta, weights: weights, ranks: 2)
        let step = 1e-6
        func loss(_ x: Tensor, _ gamma: Tensor, _ beta: Tensor) -> Double {
            GradMode.withoutGrad { batchNormOutcome(x, gamma: gamma, beta: beta, weights: weights, ranks: 2).loss }
        }
        func numeric(_ input: Tensor, _ evaluate: (Tensor) -> Double) -> [Double] {
            (0..<input.count).map { index in
                var values = input.doubles
                values[index] += step
                let up = evaluate(Tensor(shape: input.shape, doubles: values))
                values[index] -= 2 * step
                return (up - evaluate(Tensor(shape: input.shape, doubles: values))) / (2 * step)
            }
        }
        #expect(maxDifference(analytic.gx, numeric(x) { loss($0, gamma, beta) }) < 1e-6)
        #expect(maxDifference(analytic.ggamma, numeric(gamma) { loss(x, $0, beta) }) < 1e-6)
        #expect(maxDifference(analytic.gbeta, numeric(beta) { loss(x, gamma, $0) }) < 1e-6)
    }

    @Test func gradientSumAddsEveryRanksGradientsAndStatistics() {
        let summed = Rendezvous(size: 2).run { group in
            let a = Tensor(shape: [3], scalars: [1, 2, 3].map { Float($0 * (group.rank + 1)) })
            let b = Tensor(shape: [2], scalars: [10, 20])
            a.grad = a.copy()
            b.grad = b.copy()
            let untouched = Tensor(shape: [1], scalars: [5])
            let statistics = group.sumGradients(of: [a, untouched, b], with: [Float(group.rank), 1])
            return (a.grad!.scalars, b.grad!.scalars, untouched.grad == nil, statistics)
        }
        for (a, b, untouched, statistics) in summed {
            #expect(a == [3, 6, 9] && b == [20, 40] && untouched && statistics == [1, 2])
        }
    }
}
