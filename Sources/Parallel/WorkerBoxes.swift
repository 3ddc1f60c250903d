// Handing values to worker threads and getting their errors back.
import Foundation

/// Moves a non-Sendable value into a worker thread that is its only user meanwhile.
public final class UncheckedBox<Value>: @unchecked Sendable {
    /// The boxed value.
    public let value: Value
    /// Boxes `value` for one worker.
    public init(_ value: Value) { self.value = value }
}

/// The first error of a worker thread, and its completion.
public final class ErrorBox: @unchecked Sendable {
    /// A box with no error, its worker not yet done.
    public init() {}

    private let condition = NSCondition()
    private var stored: Error?
    private var done = false

    /// The first error set, if any.
    public var error: Error? {
        condition.lock()
        defer { condition.unlock() }
        return stored
    }

    /// Records `error` (the first one wins) and marks the worker done.
    public func set(_ error: Error) {
        condition.lock()
        if stored == nil { stored = error }
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Marks the worker done without an error.
    public func finish() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the worker is done.
    public func wait() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
}
