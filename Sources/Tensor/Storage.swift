// Tensor memory: 64-byte aligned buffers recycled through a pool, so a training step that
// allocates the same sizes every iteration reuses last iteration's memory instead of calling malloc.
import Foundation

/// The element type of a tensor: `float32` for training, `float64` for gradient checks.
public enum DType: String, Sendable {
    /// IEEE single and double precision.
    case float32, float64

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
}

/// A block of tensor memory, returned to the pool when the last tensor using it goes away.
final class Buffer: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        raw = BufferPool.shared.take(byteCount)
    }

    deinit { BufferPool.shared.give(raw, byteCount) }

    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> { raw.assumingMemoryBound(to: T.self) }
}

/// Free blocks by exact size, up to a total cap (the rest is freed).
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    private let capBytes = 4 << 30

    func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = max(64, byteCount)
        lock.lock()
        if let block = free[size]?.popLast() {
            cachedBytes -= size
            lock.unlock()
            return block
        }
        lock.unlock()
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func give(_ block: UnsafeMutableRawPointer, _ byteCount: Int) {
        let size = max(64, byteCount)
        lock.lock()
        if cachedBytes + size <= capBytes {
            free[size, default: []].append(block)
            cachedBytes += size
            lock.unlock()
        } else {
            lock.unlock()
            block.deallocate()
        }
    }
}
