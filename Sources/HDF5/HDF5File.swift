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
        removeStaleTemporaries(of: path)
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

    /// Flushes and closes the file, reporting any write that did not reach the disk. Objects of
    /// the file still open keep it open in the library until they go.
    public func close() throws {
        try flush()
        try handle.close(location)
    }

    /// Reserves disk blocks for the whole file as it now stands (its datasets allocated early):
    /// a disk too small for it fails here, naming the sizes, instead of part-way through filling it.
    public func reserveSpace() throws {
        try flush()
        let size = ((try? FileManager.default.attributesOfItem(atPath: filePath)[.size]) as? NSNumber)?.int64Value ?? 0
        let descriptor = Foundation.open(filePath, O_RDWR)
        guard descriptor >= 0 else { throw location.error("opening to reserve space failed: \(String(cString: strerror(errno)))") }
        defer { Foundation.close(descriptor) }
        let status = posix_fallocate(descriptor, 0, off_t(size))
        guard status == 0 else {
            var space = statvfs()
            let free = statvfs((filePath as NSString).deletingLastPathComponent, &space) == 0 ? Int64(space.f_bavail) * Int64(space.f_frsize) : -1
            let reason = status == ENOSPC ? "the disk is full" : String(cString: strerror(status))
            throw location.error("reserving \(formatSize(size)) failed: \(reason)\(free >= 0 ? " (\(formatSize(free)) free)" : "")")
        }
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

    /// Bytes in a readable unit (`4.8 GiB`).
    private func formatSize(_ bytes: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }

    /// Removes temporaries of `path` left by processes that no longer run (killed mid-write).
    static func removeStaleTemporaries(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent, prefix = (path as NSString).lastPathComponent + ".tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: (folder.isEmpty ? "" : folder + "/") + name)
        }
    }

    /// The temporary name a file is written under before it is renamed into place.
    public static func temporaryPath(for path: String) -> String {
        "\(path).tmp-\(getpid())"
    }
}
