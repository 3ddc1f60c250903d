// Parallel loops for CPU work: decoding around single-threaded I/O, and tensor kernels that split
// a batch over the cores (each worker calling single-threaded BLAS).
import Dispatch
import Foundation

/// A pointer that may cross threads; each worker writes a disjoint part of it.
public struct SendablePointer<T>: @unchecked Sendable {
    /// The start of the shared buffer.
    public let base: UnsafeMutablePointer<T>
    /// Wraps `base`; the caller keeps the memory alive while workers use it.
    public init(base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads, workers taking
/// interleaved indices. The first error thrown (in index order) is rethrown after all finish.
public func parallelFor(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let workers = max(1, min(threads, count))
    if workers == 1 {
        for index in 0..<count { try body(index) }
        return
    }
    let failures = FailureList()
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        for index in stride(from: worker, to: count, by: workers) {
            do { try body(index) } catch { failures.add(index, error); return }
        }
    }
    if let error = failures.first { throw error }
}

/// Errors collected from worker threads.
private final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(Int, Error)] = []

    func add(_ index: Int, _ error: Error) {
        lock.lock()
        errors.append((index, error))
        lock.unlock()
    }

    var first: Error? {
        lock.lock()
        defer { lock.unlock() }
        return errors.min { $0.0 < $1.0 }?.1
    }
}

/// How many threads compute kernels use (the machine's cores by default). Results depend on it
/// only through the order of floating-point sums, so a fixed count gives repeatable runs.
public enum ComputeThreads {
    /// The count for the calling task or thread.
    @TaskLocal public static var count = ProcessInfo.processInfo.activeProcessorCount

    /// Runs `body` with kernels using `threads` threads.
    public static func with<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        try $count.withValue(Swift.max(1, threads), operation: body)
    }
}

/// Splits `0..<count` into contiguous ranges, one per worker (at most `workers`, and none smaller
/// than `minimumPerWorker`), and runs `body(worker, range)` on each concurrently.
public func parallelRanges(_ count: Int, workers: Int = ComputeThreads.count, minimumPerWorker: Int = 1,
                           _ body: @Sendable (_ worker: Int, _ range: Range<Int>) -> Void) {
    let used = max(1, min(workers, count / max(1, minimumPerWorker)))
    if used == 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: used) { worker in
        body(worker, (count * worker / used)..<(count * (worker + 1) / used))
    }
}
