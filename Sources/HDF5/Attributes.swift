// Attributes on groups, datasets and the root: strings, integers and floats, scalar or 1-D.
internal import CHDF5
import Foundation

/// The value of an attribute. Strings are written as variable-length UTF-8 (h5py reads `str`);
/// fixed-length strings written by other tools are read too, with trailing NULs removed.
public enum AttributeValue: Equatable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// One string (variable-length UTF-8 when written).
    case string(String)
    /// A 1-D list of strings.
    case strings([String])
    /// One integer.
    case int(Int64)
    /// A 1-D list of integers.
    case ints([Int64])
    /// One floating-point number.
    case double(Double)
    /// A 1-D list of floating-point numbers.
    case doubles([Double])
    /// A type this wrapper does not read (compound, enum, ...), with its description.
    case unsupported(String)

    public var description: String {
        switch self {
        case .string(let value): return "\"\(value)\""
        case .strings(let values): return "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        case .int(let value): return "\(value)"
        case .ints(let values): return "[" + values.map(String.init).joined(separator: ", ") + "]"
        case .double(let value): return "\(value)"
        case .doubles(let values): return "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
        case .unsupported(let type): return "<\(type)>"
        }
    }

    /// A string literal is a `.string` attribute.
    public init(stringLiteral value: String) { self = .string(value) }

    /// The value as one string, if it is one.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    /// The value as a list of strings (a single string is a list of one).
    public var stringsValue: [String]? {
        switch self {
        case .strings(let values): values
        case .string(let value): [value]
        default: nil
        }
    }
    /// The value as one integer, if it is one.
    public var intValue: Int64? { if case .int(let value) = self { value } else { nil } }
    /// The value as one number (an integer converts).
    public var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }
    /// The value as a list of numbers (a scalar is a list of one).
    public var doublesValue: [Double]? {
        switch self {
        case .doubles(let values): values
        case .ints(let values): values.map(Double.init)
        case .double(let value): [value]
        case .int(let value): [Double(value)]
        default: nil
        }
    }
}

extension HDF5Object {
    /// Names of this object's attributes, in creation order.
    public func attributeNames() throws -> [String] {
        var index: hsize_t = 0
        return try listNames("listing attributes") { context in
            H5Aiterate2(handle.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in NameList.append(name, context) }, context)
        }
    }

    /// Whether the attribute `name` exists.
    public func hasAttribute(_ name: String) throws -> Bool {
        try hdf5(location, "looking for attribute \(name)") { H5Aexists(handle.id, name) } > 0
    }

    /// All attributes, in name order.
    public func attributes() throws -> [(name: String, value: AttributeValue)] {
        try attributeNames().map { ($0, try attribute($0)) }
    }

    /// Reads the attribute `name`; a missing attribute is an error naming it.
    public func attribute(_ name: String) throws -> AttributeValue {
        let where_ = Location(file: filePath, object: "\(path) attribute '\(name)'")
        guard try hasAttribute(name) else { throw where_.error("no such attribute") }
        let attribute = try hdf5(where_, "opening") { H5Aopen(handle.id, name, kd_H5P_DEFAULT()) }
        defer { H5Aclose(attribute) }
        let type = try hdf5(where_, "reading the type") { H5Aget_type(attribute) }
        defer { H5Tclose(type) }
        let space = try hdf5(where_, "reading the dataspace") { H5Aget_space(attribute) }
        defer { H5Sclose(space) }
        let shape = try dimensions(of: space, where_)
        let count = shape.reduce(1, *)
        let scalar = shape.isEmpty

        switch H5Tget_class(type) {
        case H5T_STRING:
            let strings = try readStrings(attribute, type: type, count: count, where_)
            return scalar ? .string(strings.first ?? "") : .strings(strings)
        case H5T_INTEGER:
            var values = [Int64](repeating: 0, count: count)
            try hdf5(where_, "reading") { H5Aread(attribute, kd_H5T_NATIVE_INT64(), &values) }
            return scalar ? .int(values[0]) : .ints(values)
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: count)
            try hdf5(where_, "reading") { H5Aread(attribute, kd_H5T_NATIVE_DOUBLE(), &values) }
            return scalar ? .double(values[0]) : .doubles(values)
        default:
            return .unsupported(describeType(type))
        }
    }

    private func readStrings(_ attribute: hid_t, type: hid_t, count: Int, _ where_: Location) throws -> [String] {
        if H5Tis_variable_str(type) > 0 {
            let memoryType = H5Tcopy(kd_H5T_C_S1())
            defer { H5Tclose(memoryType) }
            H5Tset_size(memoryType, kd_H5T_VARIABLE())
            H5Tset_cset(memoryType, H5Tget_cset(type))
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try hdf5(where_, "reading") { H5Aread(attribute, memoryType, &pointers) }
            defer { for pointer in pointers { free(pointer) } }
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: size * count)
        try hdf5(where_, "reading") { H5Aread(attribute, type, &bytes) }
        return (0..<count).map { index in
            let raw = bytes[(index * size)..<((index + 1) * size)]
            let text = raw.prefix { $0 != 0 }
            return String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Writes the attribute `name`, replacing any attribute of that name.
    public func setAttribute(_ name: String, _ value: AttributeValue) throws {
        let where_ = Location(file: filePath, object: "\(path) attribute '\(name)'")
        if try hasAttribute(name) {
            try hdf5(where_, "removing the old value") { H5Adelete(handle.id, name) }
        }
        switch value {
        case .string(let string): try writeStrings([string], scalar: true, name, where_)
        case .strings(let strings): try writeStrings(strings, scalar: false, name, where_)
        case .int(let number): try writeNumbers([number], scalar: true, type: kd_H5T_NATIVE_INT64(), name, where_)
        case .ints(let numbers): try writeNumbers(numbers, scalar: false, type: kd_H5T_NATIVE_INT64(), name, where_)
        case .double(let number): try writeNumbers([number], scalar: true, type: kd_H5T_NATIVE_DOUBLE(), name, where_)
        case .doubles(let numbers): try writeNumbers(numbers, scalar: false, type: kd_H5T_NATIVE_DOUBLE(), name, where_)
        case .unsupported(let type): throw where_.error("cannot write a value of type \(type)")
        }
    }

    /// Removes the attribute `name`; a missing attribute is an error naming it.
    public func removeAttribute(_ name: String) throws {
        let where_ = Location(file: filePath, object: "\(path) attribute '\(name)'")
        guard try hasAttribute(name) else { throw where_.error("no such attribute") }
        try hdf5(where_, "removing it") { H5Adelete(handle.id, name) }
    }

    /// Writes a string attribute.
    public func setAttribute(_ name: String, _ value: String) throws { try setAttribute(name, .string(value)) }
    /// Writes a list-of-strings attribute.
    public func setAttribute(_ name: String, _ value: [String]) throws { try setAttribute(name, .strings(value)) }
    /// Writes an integer attribute.
    public func setAttribute<I: BinaryInteger>(_ name: String, _ value: I) throws { try setAttribute(name, .int(Int64(value))) }
    /// Writes a floating-point attribute.
    public func setAttribute(_ name: String, _ value: Double) throws { try setAttribute(name, .double(value)) }
    /// Writes a list-of-numbers attribute.
    public func setAttribute(_ name: String, _ value: [Double]) throws { try setAttribute(name, .doubles(value)) }

    private func makeSpace(count: Int, scalar: Bool, _ where_: Location) throws -> hid_t {
        try hdf5(where_, "making the dataspace") {
            scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, [hsize_t(count)], nil)
        }
    }

    private func writeNumbers<T>(_ values: [T], scalar: Bool, type: hid_t, _ name: String, _ where_: Location) throws {
        let space = try makeSpace(count: values.count, scalar: scalar, where_)
        defer { H5Sclose(space) }
        let attribute = try hdf5(where_, "creating") { H5Acreate2(handle.id, name, type, space, kd_H5P_DEFAULT(), kd_H5P_DEFAULT()) }
        defer { H5Aclose(attribute) }
        _ = try values.withUnsafeBytes { bytes in
            try hdf5(where_, "writing") { H5Awrite(attribute, type, bytes.baseAddress) }
        }
    }

    private func writeStrings(_ values: [String], scalar: Bool, _ name: String, _ where_: Location) throws {
        let type = H5Tcopy(kd_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, kd_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = try makeSpace(count: values.count, scalar: scalar, where_)
        defer { H5Sclose(space) }
        let attribute = try hdf5(where_, "creating") { H5Acreate2(handle.id, name, type, space, kd_H5P_DEFAULT(), kd_H5P_DEFAULT()) }
        defer { H5Aclose(attribute) }
        let cStrings = values.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        var pointers = cStrings.map { $0.map { UnsafePointer($0) } }
        try hdf5(where_, "writing") { H5Awrite(attribute, type, &pointers) }
    }
}

/// A short description of any HDF5 type, as h5py would name it (`float32`, `string`, ...).
func describeType(_ type: hid_t) -> String {
    if let element = ElementType(hdf5Type: type) { return element.rawValue }
    switch H5Tget_class(type) {
    case H5T_STRING: return H5Tis_variable_str(type) > 0 ? "string" : "string[\(H5Tget_size(type))]"
    case H5T_COMPOUND: return "compound"
    case H5T_ENUM: return "enum"
    case H5T_ARRAY: return "array"
    case H5T_OPAQUE: return "opaque"
    case H5T_REFERENCE: return "reference"
    case H5T_VLEN: return "vlen"
    case H5T_BITFIELD: return "bitfield"
    default: return "type of \(H5Tget_size(type)) bytes"
    }
}
