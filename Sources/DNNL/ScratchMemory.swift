// Memory the wrapper needs between the caller's buffers and oneDNN: blocked copies of operands and
// primitives' scratchpads. Blocks are recycled by exact size, as the engine's tensor memory is, so a
// training step that runs the same convolutions every iteration does not fault in fresh pages.
import Foundation

/// 64-byte aligned blocks by exact size, kept up to a total cap.
final class ScratchMemory: @unchecked Sendable {
    static let shared = ScratchMemory()
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    private let capBytes = 1 << 30

    /// Runs `body` with a block of at least `byteCount` bytes (nil for zero bytes).
    func with<R>(_ byteCount: Int, _ body: (UnsafeMutableRawPointer?) throws -> R) rethrows -> R {
        guard byteCount > 0 else { return try body(nil) }
        let block = take(byteCount)
        defer { give(block, byteCount) }
        return try body(block)
    }

    private func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        lock.lock()
        if let block = free[byteCount]?.popLast() {
            cachedBytes -= byteCount
            lock.unlock()
            return block
        }
        lock.unlock()
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    private func give(_ block: UnsafeMutableRawPointer, _ byteCount: Int) {
        lock.lock()
        if cachedBytes + byteCount <= capBytes {
            free[byteCount, default: []].append(block)
            cachedBytes += byteCount
            lock.unlock()
        } else {
            lock.unlock()
            block.deallocate()
        }
    }
}
