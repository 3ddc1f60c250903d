// What a user reads when a command fails: one line naming the file and the problem, for every
// error the stages throw, Foundation's file errors included (not their raw dumps).
import Foundation

/// The message for `error`: its own description for the pipeline's errors; for Foundation's
/// file errors, the path and the system's reason.
public func failureMessage(_ error: Error) -> String {
    let nsError = error as NSError
    if nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain {
        let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
        let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError
        let code = nsError.domain == NSPOSIXErrorDomain ? nsError.code : underlying?.domain == NSPOSIXErrorDomain ? underlying!.code : nil
        let reason = code.map { String(cString: strerror(Int32($0))) } ?? cocoaReason(nsError.code)
        return (path.map { "\($0): " } ?? "") + reason
    }
    return "\(error)"
}

/// A plain reason for Foundation's file error codes.
private func cocoaReason(_ code: Int) -> String {
    switch CocoaError.Code(rawValue: code) {
    case .fileNoSuchFile, .fileReadNoSuchFile: "no such file or folder"
    case .fileWriteNoPermission, .fileReadNoPermission: "permission denied"
    case .fileWriteOutOfSpace: "the disk is full"
    case .fileWriteVolumeReadOnly: "the volume is read-only"
    case .fileWriteFileExists: "a file of that name exists"
    default: "file operation failed (error \(code))"
    }
}
