// The CPU engine every primitive is made for, and the streams they run on. Streams are not safe to
// share between threads, so each call borrows one from a small pool and gives it back.
internal import CDNNL
import Foundation

/// oneDNN's CPU engine (one per process) with a pool of streams.
final class Engine: @unchecked Sendable {
    let handle: dnnl_engine_t
    private let lock = NSLock()
    private var idleStreams: [dnnl_stream_t] = []

    private init() throws {
        var engine: dnnl_engine_t?
        try dnnl("creating the CPU engine") { dnnl_engine_create(&engine, dnnl_cpu, 0) }
        handle = engine!
    }

    private static let created: Result<Engine, Error> = Result { try Engine() }

    /// The process's CPU engine, created on first use.
    static func cpu() throws -> Engine { try created.get() }

    /// Runs `body` with a stream no other thread is using meanwhile.
    func withStream<R>(_ body: (dnnl_stream_t) throws -> R) throws -> R {
        lock.lock()
        var stream = idleStreams.popLast()
        lock.unlock()
        if stream == nil {
            try dnnl("creating a CPU stream") { dnnl_stream_create(&stream, handle, dnnl_stream_default_flags.rawValue) }
        }
        defer {
            lock.lock()
            idleStreams.append(stream!)
            lock.unlock()
        }
        return try body(stream!)
    }

    // The engine and its streams live as long as the process (`created` is a static).
}
