// The element types the wrapper reads and writes, and how each maps to an HDF5 type.
internal import CHDF5

/// Element types stored in HDF5 datasets and attributes.
public enum ElementType: String, Sendable, CaseIterable {
    /// Unsigned and signed integers of 8 to 64 bits, and IEEE floats of 16, 32 and 64 bits.
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64

    /// Whether this is a floating-point type.
    public var isFloat: Bool { self == .float16 || self == .float32 || self == .float64 }

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .uint8, .int8: 1
        case .uint16, .int16, .float16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        }
    }

    /// The in-memory HDF5 type (little-endian native on this platform, also used on disk). The
    /// caller owns the returned id only for `float16`, which is built from a float32 copy.
    func makeType() -> (id: hid_t, owned: Bool) {
        switch self {
        case .uint8: (kd_H5T_NATIVE_UINT8(), false)
        case .int8: (kd_H5T_NATIVE_INT8(), false)
        case .uint16: (kd_H5T_NATIVE_UINT16(), false)
        case .int16: (kd_H5T_NATIVE_INT16(), false)
        case .uint32: (kd_H5T_NATIVE_UINT32(), false)
        case .int32: (kd_H5T_NATIVE_INT32(), false)
        case .uint64: (kd_H5T_NATIVE_UINT64(), false)
        case .int64: (kd_H5T_NATIVE_INT64(), false)
        case .float32: (kd_H5T_NATIVE_FLOAT(), false)
        case .float64: (kd_H5T_NATIVE_DOUBLE(), false)
        case .float16: (makeHalfType(), true)
        }
    }

    /// Runs `body` with this type's id and releases it afterwards when it was built.
    func withType<R>(_ body: (hid_t) throws -> R) rethrows -> R {
        let type = makeType()
        defer { if type.owned { H5Tclose(type.id) } }
        return try body(type.id)
    }

    /// The element type of a stored HDF5 type, or nil for strings, compounds and the like.
    init?(hdf5Type type: hid_t) {
        let size = H5Tget_size(type)
        switch H5Tget_class(type) {
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch size {
            case 1: self = signed ? .int8 : .uint8
            case 2: self = signed ? .int16 : .uint16
            case 4: self = signed ? .int32 : .uint32
            case 8: self = signed ? .int64 : .uint64
            default: return nil
            }
        case H5T_FLOAT:
            switch size {
            case 2: self = .float16
            case 4: self = .float32
            case 8: self = .float64
            default: return nil
            }
        default:
            return nil
        }
    }
}

/// IEEE 754 binary16, laid out as h5py's `float16`: a float32 copy narrowed to 1+5+10 bits.
private func makeHalfType() -> hid_t {
    let type = H5Tcopy(kd_H5T_NATIVE_FLOAT())
    H5Tset_fields(type, 15, 10, 5, 0, 10)
    H5Tset_size(type, 2)
    H5Tset_ebias(type, 15)
    return type
}

/// A Swift type that can be an element of an HDF5 dataset.
public protocol HDF5Element: Sendable {
    /// The HDF5 element type this Swift type is stored as.
    static var elementType: ElementType { get }
}

extension UInt8: HDF5Element { public static var elementType: ElementType { .uint8 } }
extension Int8: HDF5Element { public static var elementType: ElementType { .int8 } }
extension UInt16: HDF5Element { public static var elementType: ElementType { .uint16 } }
extension Int16: HDF5Element { public static var elementType: ElementType { .int16 } }
extension UInt32: HDF5Element { public static var elementType: ElementType { .uint32 } }
extension Int32: HDF5Element { public static var elementType: ElementType { .int32 } }
extension UInt64: HDF5Element { public static var elementType: ElementType { .uint64 } }
extension Int64: HDF5Element { public static var elementType: ElementType { .int64 } }
extension Float16: HDF5Element { public static var elementType: ElementType { .float16 } }
extension Float: HDF5Element { public static var elementType: ElementType { .float32 } }
extension Double: HDF5Element { public static var elementType: ElementType { .float64 } }
