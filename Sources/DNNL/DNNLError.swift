// Errors from oneDNN: every status other than success becomes a thrown error naming the call and
// the status (`dnnl_unimplemented`, `dnnl_invalid_arguments`, ...).
internal import CDNNL

/// A failed oneDNN call: what was being done and the status oneDNN returned.
public struct DNNLError: Error, CustomStringConvertible, Sendable {
    /// What the wrapper was doing (`creating the forward convolution 128x16x32x32 -> 16, 3x3 ...`).
    public let operation: String
    /// oneDNN's name of the status (`unimplemented`, `out_of_memory`, ...).
    public let status: String

    /// An error of `operation` with status name `status`.
    public init(operation: String, status: String) {
        self.operation = operation
        self.status = status
    }

    public var description: String { "oneDNN: \(operation) failed: \(status)" }
}

/// Runs one oneDNN call and throws unless it returned `dnnl_success`.
func dnnl(_ operation: @autoclosure () -> String, _ body: () -> dnnl_status_t) throws {
    let status = body()
    guard status == dnnl_success else {
        throw DNNLError(operation: operation(), status: String(cString: dnnl_status2str(status)))
    }
}
