// The common base of groups and datasets: an open handle, its file, its path inside the file.
internal import CHDF5

/// An open HDF5 object (group, dataset or the file's root group). Attributes live here.
public class HDF5Object {
    let handle: Handle
    /// Path of the file on disk.
    public internal(set) var filePath: String
    /// Absolute path of the object inside the file, `/` for the root group.
    public let path: String

    init(handle: Handle, filePath: String, path: String) {
        self.handle = handle
        self.filePath = filePath
        self.path = path
    }

    var location: Location { Location(file: filePath, object: path) }

    /// The absolute path of a child called `name` (which may itself contain `/`).
    func childPath(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return path == "/" ? "/" + name : path + "/" + name
    }
}

/// A group's children, and the top of a file: the root group.
public class Group: HDF5Object {
    /// Opens the group `name`, relative to this one.
    public func group(_ name: String) throws -> Group {
        let location = Location(file: filePath, object: childPath(name))
        guard try contains(name) else { throw location.error("no such group") }
        let id = try hdf5(location, "opening the group") { H5Gopen2(handle.id, name, kd_H5P_DEFAULT()) }
        return Group(handle: Handle(id, close: H5Gclose), filePath: filePath, path: location.object!)
    }

    /// Creates the group `name` (and any missing groups on its path), or opens it when it exists.
    @discardableResult
    public func createGroup(_ name: String) throws -> Group {
        if try contains(name) { return try group(name) }
        let location = Location(file: filePath, object: childPath(name))
        let id = try withIntermediateGroups(location) { linkProperties in
            try hdf5(location, "creating the group") {
                H5Gcreate2(handle.id, name, linkProperties, kd_H5P_DEFAULT(), kd_H5P_DEFAULT())
            }
        }
        return Group(handle: Handle(id, close: H5Gclose), filePath: filePath, path: location.object!)
    }

    /// Whether a link `name` (a path relative to this group) exists, checking each step.
    public func contains(_ name: String) throws -> Bool {
        var prefix = name.hasPrefix("/") ? "/" : ""
        for component in name.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix == "/" ? "" : "/") + component
            H5Eset_auto2(kd_H5E_DEFAULT(), nil, nil)
            if H5Lexists(handle.id, prefix, kd_H5P_DEFAULT()) <= 0 { return false }
        }
        return true
    }

    /// Removes the link `name` (a dataset or group and, when nothing else links to it, its
    /// contents); a missing one is an error naming it.
    public func removeLink(_ name: String) throws {
        let location = Location(file: filePath, object: childPath(name))
        guard try contains(name) else { throw location.error("no such dataset or group") }
        try hdf5(location, "removing it") { H5Ldelete(handle.id, name, kd_H5P_DEFAULT()) }
    }

    /// Names of the direct children of this group, in name order.
    public func childNames() throws -> [String] {
        var index: hsize_t = 0
        return try listNames("listing the group") { context in
            H5Literate(handle.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in NameList.append(name, context) }, context)
        }
    }

    /// Whether the child `name` is a group (true) or something else, such as a dataset.
    public func isGroup(_ name: String) throws -> Bool {
        let location = Location(file: filePath, object: childPath(name))
        let id = try hdf5(location, "opening the object") { H5Oopen(handle.id, name, kd_H5P_DEFAULT()) }
        defer { H5Oclose(id) }
        return H5Iget_type(id) == H5I_GROUP
    }

    /// Runs `body` with link-creation properties that create missing intermediate groups.
    func withIntermediateGroups<R>(_ location: Location, _ body: (hid_t) throws -> R) throws -> R {
        let properties = try hdf5(location, "making link properties") { H5Pcreate(kd_H5P_LINK_CREATE()) }
        defer { H5Pclose(properties) }
        try hdf5(location, "allowing intermediate groups") { H5Pset_create_intermediate_group(properties, 1) }
        return try body(properties)
    }
}

extension HDF5Object {
    /// Runs an HDF5 iteration whose callback calls `NameList.append` with the context it is given,
    /// and returns the names collected.
    func listNames(_ operation: String, _ iterate: (UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
        let names = NameList()
        try withExtendedLifetime(names) {
            let context = Unmanaged.passUnretained(names).toOpaque()
            _ = try hdf5(location, operation) { iterate(context) }
        }
        return names.list
    }
}

/// The names an HDF5 iteration callback collects (passed to it as its context pointer).
final class NameList {
    var list: [String] = []

    /// The body of an iteration callback: appends `name` to the list behind `context`.
    static func append(_ name: UnsafePointer<CChar>?, _ context: UnsafeMutableRawPointer?) -> herr_t {
        guard let name, let context else { return -1 }
        Unmanaged<NameList>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
        return 0
    }
}
