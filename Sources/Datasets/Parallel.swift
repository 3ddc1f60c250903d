// A parallel loop over indices for CPU work around single-threaded I/O (decoding, encoding).
import Dispatch
import Foundation

/// A pointer that may cross threads; each worker writes a disjoint part of it.
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

/// Runs `body(i)` for every `i` in `0..<count` on up to `threads` threads, workers taking
/// interleaved indices. The first error thrown (in index order) is rethrown after all finish.
func parallelFor(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
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
