// A blocking queue of bounded size between pipeline workers: producers wait when it is full, so
// memory stays bounded whatever the dataset size (precompute's reader, teacher and writer).
import Foundation

/// A first-in first-out queue holding at most `capacity` items; `nil` from `pop` means closed.
public final class BoundedQueue<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var closed = false
    private let capacity: Int

    /// An open, empty queue that holds at most `capacity` items.
    public init(capacity: Int) { self.capacity = capacity }

    /// Adds an item, waiting while the queue is full; returns false if the queue was closed.
    @discardableResult
    public func push(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// The next item, waiting while empty; nil once closed and drained.
    public func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        guard !items.isEmpty else { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    /// No more items: waiting consumers get nil, waiting producers give up.
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
