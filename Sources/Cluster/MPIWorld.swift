// The processes of one `mpirun` (or `srun`) launch: who this process is among them and the few
// collective operations the pipeline needs (a barrier, agreeing on small integers, sharing a
// message) and, as a `ProcessGroup`, the sums of data-parallel training. A process started
// without a launcher never initialises MPI and runs alone.
internal import CMPI
import Foundation
import Parallel

/// A failed MPI call: what was being done and the library's own message.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// What failed (`MPI_Allreduce`) and why.
    public let message: String

    public var description: String { "MPI: \(message)" }
}

/// The world communicator of a launch: `size` processes, this one being `rank` (0-based).
///
/// Only one exists per process (MPI is initialised once); `finalize()` must be called by every
/// rank before the process exits, or the launcher reports the launch as failed.
public final class MPIWorld: @unchecked Sendable {
    /// This process's rank, `0..<size`.
    public let rank: Int
    /// The number of processes in the launch.
    public let size: Int
    /// Seconds spent in the floating-point sums so far (waiting for the slowest rank included).
    public private(set) var sumSeconds = 0.0
    private var finalized = false

    /// Environment variables a launcher sets in each process it starts: Open MPI's `mpirun`
    /// (`OMPI_COMM_WORLD_SIZE`), PMIx launchers such as `srun --mpi=pmix` (`PMIX_RANK`), and PMI-1/2
    /// ones (`PMI_RANK`). Without any of them the process was started by hand.
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]

    /// Whether this process was started by an MPI launcher (judged from its environment alone).
    public static var isLaunched: Bool {
        let environment = ProcessInfo.processInfo.environment
        return launcherVariables.contains { environment[$0] != nil }
    }

    /// Processes of this launch on this host (`OMPI_COMM_WORLD_LOCAL_SIZE`, else 1): they share its cores.
    public static var localSize: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    }

    /// Initialises MPI and returns the world when started by a launcher; nil (and no MPI call at
    /// all) otherwise.
    public static func joinIfLaunched() throws -> MPIWorld? {
        guard isLaunched else { return nil }
        try check("MPI_Init") { MPI_Init(nil, nil) }
        try check("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(kd_MPI_COMM_WORLD(), kd_MPI_ERRORS_RETURN()) }
        var rank: Int32 = 0, size: Int32 = 0
        try check("MPI_Comm_rank") { MPI_Comm_rank(kd_MPI_COMM_WORLD(), &rank) }
        try check("MPI_Comm_size") { MPI_Comm_size(kd_MPI_COMM_WORLD(), &size) }
        return MPIWorld(rank: Int(rank), size: Int(size))
    }

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// The sum of the values every rank passes (each rank gets it).
    public func sum(_ value: Int) throws -> Int { try reduce(value, kd_MPI_SUM(), "sum") }

    private func reduce(_ value: Int, _ operation: MPI_Op, _ name: String) throws -> Int {
        var input = Int64(value), output: Int64 = 0
        try Self.check("MPI_Allreduce (\(name))") {
            MPI_Allreduce(&input, &output, 1, kd_MPI_INT64_T(), operation, kd_MPI_COMM_WORLD())
        }
        return Int(output)
    }

    /// `text` as rank `root` passed it, on every rank (others pass anything).
    public func broadcast(_ text: String, from root: Int) throws -> String {
        var length = Int64(text.utf8.count)
        try Self.check("MPI_Bcast (length)") { MPI_Bcast(&length, 1, kd_MPI_INT64_T(), Int32(root), kd_MPI_COMM_WORLD()) }
        var bytes = rank == root ? Array(text.utf8).map { CChar(bitPattern: $0) } : [CChar](repeating: 0, count: Int(length))
        guard length > 0 else { return "" }
        try Self.check("MPI_Bcast (text)") { MPI_Bcast(&bytes, Int32(length), kd_MPI_CHAR(), Int32(root), kd_MPI_COMM_WORLD()) }
        return String(decoding: bytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Ends every process of the launch with `message` on standard error and exit status `code`:
    /// what a rank does when a collective it was in cannot go on.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("rank \(rank) of \(size): \(message); ending every rank\n".utf8))
        _ = MPI_Abort(kd_MPI_COMM_WORLD(), code)
        exit(code)
    }

    /// Ends MPI in this process (once; later calls do nothing). Every rank must call it.
    public func finalize() throws {
        guard !finalized else { return }
        finalized = true
        try Self.check("MPI_Finalize") { MPI_Finalize() }
    }

    /// An in-place `MPI_Allreduce` sum of `count` elements of `type` at `values`; a failure ends the launch.
    private func sumInPlace(_ values: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype, _ what: String) {
        guard count > 0 else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { sumSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        do {
            try Self.check("MPI_Allreduce (\(what))") {
                MPI_Allreduce(kd_MPI_IN_PLACE(), values, Int32(count), type, kd_MPI_SUM(), kd_MPI_COMM_WORLD())
            }
        } catch {
            abort("\(error)")
        }
    }

    /// Runs one MPI call and throws its error string when it does not return `MPI_SUCCESS`.
    private static func check(_ call: String, _ body: () -> Int32) throws {
        let code = body()
        guard code != kd_MPI_SUCCESS() else { return }
        var text = [CChar](repeating: 0, count: Int(kd_MPI_MAX_ERROR_STRING()) + 1)
        var length: Int32 = 0
        _ = MPI_Error_string(code, &text, &length)
        throw MPIError(message: "\(call) failed: \(String(cString: text))")
    }
}

extension MPIWorld: ProcessGroup {
    /// Sums `values` over the ranks in place (`MPI_Allreduce`); a failure ends the launch.
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) {
        sumInPlace(values.baseAddress, count: values.count, type: kd_MPI_FLOAT(), "\(values.count) floats")
    }

    /// Sums `values` over the ranks in place (`MPI_Allreduce`); a failure ends the launch.
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) {
        sumInPlace(values.baseAddress, count: values.count, type: kd_MPI_DOUBLE(), "\(values.count) doubles")
    }
}
