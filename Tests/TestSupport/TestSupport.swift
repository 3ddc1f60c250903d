// Helpers shared by the test targets: temporary folders, repository paths, running processes.
import Foundation

/// A fresh temporary folder, removed when the value is dropped.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "kd-test") {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }
}

/// Paths of the repository, found from this source file.
public enum Repository {
    /// The repository root (the folder of Package.swift).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        fatalError("no Package.swift above \(#filePath)")
    }()

    /// `../shared` beside the repository, where the shared datasets and references live.
    public static let shared = (root as NSString).deletingLastPathComponent + "/shared"

    /// The folder of the built products of this test run (`.build/debug` or `.build/release`).
    public static let products: String = {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        var folder = executable.deletingLastPathComponent()
        // On Linux the runner is <products>/<Package>PackageTests.xctest.
        if folder.lastPathComponent.hasSuffix(".xctest") { folder.deleteLastPathComponent() }
        return folder.path
    }()
}

/// The result of running a program.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let output: String
    public let error: String
}

/// Runs `executable` with `arguments` in `currentDirectory` (the repository by default) and waits;
/// standard output and error are captured. The default is explicit because a test that runs a stage
/// in-process moves the whole test process's working directory into its temporary folder for a
/// while (`inside`), and a child started meanwhile by a test running in parallel would otherwise
/// inherit that folder, and fail once it is deleted.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                currentDirectory: String? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory ?? Repository.root)
    let outPipe = Pipe(), errPipe = Pipe()
    process.standardOutput = outPipe
    process.standardError = errPipe
    try process.run()
    // Read before waiting so a large output cannot fill the pipe and block the child.
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    let err = errPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                         error: String(decoding: err, as: UTF8.self))
}

/// The full path of a program on PATH, or nil.
public func which(_ program: String) -> String? {
    for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(folder)/\(program)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Whether python3 with h5py is available, for checks that files read in Python.
public let h5pyAvailable: Bool = {
    guard let python = which("python3") else { return false }
    return (try? run(python, ["-c", "import h5py"]).status) == 0
}()
