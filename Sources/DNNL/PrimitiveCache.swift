// Created primitives by key, shared by all threads. A training run uses a handful of shapes (the
// batch, the last partial batch, evaluation); the cap only guards programs that sweep many.
import Foundation

/// A thread-safe map from keys to primitives, emptied when it reaches `capacity` entries.
final class PrimitiveCache<Key: Hashable, Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Key: Value] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// The value for `key`, made by `make` (under the lock, so once) when missing. A failure is not cached.
    func value(for key: Key, make: () throws -> Value) throws -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let value = values[key] { return value }
        let value = try make()
        if values.count >= capacity { values.removeAll() }
        values[key] = value
        return value
    }
}
