// Errors from libhdf5, turned into Swift errors that name the file and the object.
internal import CHDF5
import Foundation

/// A failure in an HDF5 operation: which file, which object, what was being done, and why.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    /// Path of the file on disk.
    public let file: String
    /// Path of the object inside the file (`/features/layer1`), or nil for the file itself.
    public let object: String?
    /// What went wrong, including libhdf5's own message when it gave one.
    public let message: String

    /// An error about `object` in `file` (nil for the file itself).
    public init(file: String, object: String?, message: String) {
        self.file = file
        self.object = object
        self.message = message
    }

    public var description: String {
        // A file being written under its temporary name is named by the name it will have.
        var name = file
        if let range = file.range(of: #"\.tmp-[0-9]+$"#, options: .regularExpression) { name.removeSubrange(range) }
        if let object, object != "/" { return "\(name): \(object): \(message)" }
        return "\(name): \(message)"
    }
}

/// Where a call happens, for error messages.
struct Location {
    let file: String
    let object: String?

    func error(_ message: String) -> HDF5Error {
        HDF5Error(file: file, object: object, message: message)
    }
}

/// Runs one libhdf5 call with automatic error printing off (the setting is per thread in the
/// thread-safe build, so it is set before every call) and turns a negative result into an error
/// carrying libhdf5's error stack.
@discardableResult
func hdf5<R: BinaryInteger>(_ location: Location, _ operation: @autoclosure () -> String, _ body: () -> R) throws -> R {
    H5Eset_auto2(kd_H5E_DEFAULT(), nil, nil)
    let result = body()
    if result < 0 {
        throw location.error("\(operation()) failed\(libraryMessage())")
    }
    return result
}

/// The innermost messages of the current thread's HDF5 error stack, then clears it.
private func libraryMessage() -> String {
    final class Messages { var lines: [String] = [] }
    let messages = Messages()
    let stack = kd_H5E_DEFAULT()
    withExtendedLifetime(messages) {
        let context = Unmanaged.passUnretained(messages).toOpaque()
        H5Ewalk2(stack, H5E_WALK_DOWNWARD, { _, description, context in
            guard let description, let context, let text = description.pointee.desc else { return 0 }
            let messages = Unmanaged<Messages>.fromOpaque(context).takeUnretainedValue()
            messages.lines.append(String(cString: text))
            return 0
        }, context)
    }
    H5Eclear2(stack)
    let lines = messages.lines.map { $0.split(separator: "\n").first.map(String.init) ?? $0 }
    // A failed system call: libhdf5 quotes the OS's message; the disk being full is said plainly.
    if let system = messages.lines.lazy.compactMap(systemError).first {
        return ": " + (system.contains("No space left") ? "the disk is full (no space left on device)" : system)
    }
    guard let outer = lines.first else { return "" }
    return ": " + (lines.count > 1 && lines.last != outer ? "\(outer); \(lines.last!)" : outer)
}

/// The OS's message quoted in one of libhdf5's (`error message = 'No space left on device'`).
private func systemError(_ message: String) -> String? {
    guard let start = message.range(of: "error message = '") else { return nil }
    let rest = message[start.upperBound...]
    return rest.firstIndex(of: "'").map { String(rest[..<$0]) }
}

/// An HDF5 identifier that is closed when the Swift object goes away, or earlier by `close()`.
final class Handle {
    let id: hid_t
    private let closeFunction: (hid_t) -> herr_t
    private(set) var isOpen = true

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        closeFunction = close
    }

    /// Closes the identifier, reporting failure (writes that were still buffered).
    func close(_ location: Location) throws {
        guard isOpen else { return }
        isOpen = false
        try hdf5(location, "closing") { closeFunction(id) }
    }

    deinit {
        // Every writing path flushes and checks before it lets go, so a failure here can only
        // concern reading; its status has nothing left to report.
        if isOpen {
            H5Eset_auto2(kd_H5E_DEFAULT(), nil, nil)
            _ = closeFunction(id)
        }
    }
}
