// One writer per run folder or cache: an advisory lock (flock) on a small file beside what is
// written, holding the process id and command of its owner. The system releases it when the
// process ends, however it ends, so a killed run never leaves a stale lock; a second process
// is told which process holds it.
import Foundation

/// Work that another `kd` process is doing.
public struct LockedError: Error, CustomStringConvertible {
    /// What is locked (a run folder or the cache).
    public let path: String
    /// The holder's `pid <n>: <command>`, when it wrote one.
    public let owner: String?

    public var description: String {
        "\(path) is in use by another kd process" + (owner.map { " (\($0))" } ?? "") + "; wait for it to finish or stop it"
    }
}

/// A held lock; released when dropped.
final class RunLock {
    private let descriptor: Int32
    private let shared: Bool

    /// Takes the lock `path` exclusively (writers) or shared (readers of something a writer
    /// makes); `target` names the thing for the message a second process gets.
    init(_ path: String, target: String, shared: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        self.shared = shared
        descriptor = open(path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw ConfigError(file: path, message: "cannot create the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw LockedError(path: target, owner: owner?.isEmpty == false ? owner : nil)
        }
        if shared {
            // Readers share the lock; the owner's line is a writer's.
        } else {
            let owner = "pid \(getpid()): " + CommandLine.arguments.map { ($0 as NSString).lastPathComponent == "kd" ? "kd" : $0 }.joined(separator: " ")
            ftruncate(descriptor, 0)
            _ = owner.withCString { write(descriptor, $0, strlen($0)) }
        }
    }

    deinit {
        // The owner's line goes with the owner (a killed one's stays, but its lock is gone).
        if !shared { ftruncate(descriptor, 0) }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
