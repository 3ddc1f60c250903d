// Opening and creating HDF5 files, including atomic creation through a temporary name.
internal import CHDF5
import Foundation

/// An open HDF5 file; it is also its own root group (`/`).
///
/// A file created with `createAtomically` is written under a temporary name beside the final
/// one and appears under the final name only when `commit()` succeeds; a file dropped before
/// that is deleted, so no half-written file is ever left under the final name.
public final class HDF5File: Group {
    /// How an existing file is opened.
    public enum Mode: Sendable { case readOnly, readWrite }

    /// The final path when this file was created atomically and not yet committed.
    private var pendingPath: String?

    private init(id: hid_t, path: String, pendingPath: String? = nil) {
        self.pendingPath = pendingPath
        super.init(handle: Handle(id, close: H5Fclose), filePath: path, path: "/")
    }

    deinit {
        if pendingPath != nil { try? FileManager.default.removeItem(atPath: filePath) }
    }

    /// Opens an existing file. A missing file or one that is not HDF5 is an error naming it.
    public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
        let location = Location(file: path, object: nil)
        guard FileManager.default.fileExists(atPath: path) else { throw location.error("no such file") }
        H5Eset_auto2(kd_H5E_DEFAULT(), nil, nil)
        guard H5Fis_hdf5(path) > 0 else { throw location.error("not an HDF5 file") }
        let flags = mode == .readOnly ? kd_H5F_ACC_RDONLY() : kd_H5F_ACC_RDWR()
        let id = try hdf5(location, "opening the file") { H5Fopen(path, flags, kd_H5P_DEFAULT()) }
        return HDF5File(id: id, path: path)
    }

    /// Creates a file, replacing any file of that name.
    public static func create(_ path: String) throws -> HDF5File {
        let location = Location(file: path, object: nil)
        let id = try hdf5(location, "creating the file") {
            H5Fcreate(path, kd_H5F_ACC_TRUNC(), kd_H5P_DEFAULT(), kd_H5P_DEFAULT())
        }
        return HDF5File(id: id, path: path)
    }

    /// Creates a file under a temporary name beside `path`; `commit()` renames it into place.
    public static func createAtomically(_ path: String) throws -> HDF5File {
        let temporary = temporaryPath(for: path)
        let location = Location(file: path, object: nil)
        let id = try hdf5(location, "creating the temporary file \(temporary)") {
            H5Fcreate(temporary, kd_H5F_ACC_TRUNC(), kd_H5P_DEFAULT(), kd_H5P_DEFAULT())
        }
        return HDF5File(id: id, path: temporary, pendingPath: path)
    }

    /// Creates `path` atomically: `body` fills the file, which appears under its name only if
    /// `body` returns without throwing.
    public static func write<R>(atomicallyTo path: String, _ body: (HDF5File) throws -> R) throws -> R {
        let file = try createAtomically(path)
        let result = try body(file)
        try file.commit()
        return result
    }

    /// Flushes everything written so far to disk.
    public func flush() throws {
        try hdf5(location, "flushing") { H5Fflush(handle.id, H5F_SCOPE_GLOBAL) }
    }

    /// Flushes an atomically created file and renames it to its final name.
    public func commit() throws {
        guard let finalPath = pendingPath else { return }
        try flush()
        guard rename(filePath, finalPath) == 0 else {
            throw HDF5Error(file: finalPath, object: nil,
                            message: "renaming \(filePath) into place failed: \(String(cString: strerror(errno)))")
        }
        pendingPath = nil
        filePath = finalPath
    }

    /// The temporary name a file is written under before it is renamed into place.
    public static func temporaryPath(for path: String) -> String {
        "\(path).tmp-\(getpid())"
    }
}
