// Reading safetensors files (Hugging Face's format for PyTorch state_dicts) without a dependency:
// an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and
// byte range, then the raw little-endian tensor bytes, row-major (for images NCHW, as PyTorch).
//
//     {"conv1.weight": {"dtype": "F32", "shape": [8, 1, 3, 3], "data_offsets": [0, 288]}, ...,
//      "__metadata__": {"arch": "mnist_student"}}
//
// Offsets count from the first byte after the header. The file is memory-mapped and every entry is
// checked when it is opened, so reading a tensor later cannot fail on a malformed file.
import Foundation
import HDF5
import Tensor

/// A safetensors file: its tensors' names, types and shapes, and its string metadata.
///
/// ### References
/// The format: https://github.com/huggingface/safetensors (README, "Format").
public struct SafeTensorsFile: Sendable {
    /// One tensor of the file.
    public struct Entry: Sendable {
        /// The stored element type as the file names it (`F32`, `F16`, `BF16`, `F64`, `I64`, `I32`).
        public let dtype: String
        /// The tensor's shape (empty for a scalar), as PyTorch's.
        public let shape: [Int]
        let element: StoredType
        /// The tensor's bytes, relative to the data that follows the header.
        let bytes: Range<Int>

        /// The number of elements.
        var count: Int { shape.reduce(1, *) }
    }

    /// The file's path.
    public let path: String
    /// The string pairs of `__metadata__`, empty when the file has none.
    public let metadata: [String: String]
    /// Every tensor of the file by name.
    public let entries: [String: Entry]
    /// The whole file, memory-mapped.
    private let contents: Data
    /// Where the tensor data starts in `contents` (8 + header length).
    private let dataStart: Int

    /// Opens and checks `path`: the header length, the header's JSON, and every entry's dtype,
    /// shape and byte range. A problem is a `CheckpointError` naming the file (and the tensor).
    public init(path: String) throws {
        self.path = path
        func failure(_ message: String) -> CheckpointError { CheckpointError(file: path, message: message) }
        do {
            contents = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw failure("cannot be read (\(error.localizedDescription))")
        }
        guard contents.count >= 8 else {
            throw failure("is \(contents.count) bytes, too short for a safetensors file (8-byte header length first)")
        }
        let headerLength = contents.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(contents.count - 8) else {
            throw failure("header length \(headerLength) goes beyond the end of the file (\(contents.count - 8) bytes after the length)")
        }
        dataStart = 8 + Int(headerLength)
        let dataCount = contents.count - dataStart

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: contents.subdata(in: 8..<dataStart), options: .fragmentsAllowed)
        } catch {
            throw failure("header is not JSON (\(error.localizedDescription))")
        }
        guard let header = json as? [String: Any] else { throw failure("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let value = header["__metadata__"] {
            guard let pairs = value as? [String: String] else { throw failure("'__metadata__' is not an object of strings") }
            metadata = pairs
        }
        var entries: [String: Entry] = [:]
        for (name, value) in header.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            entries[name] = try Self.entry(name, value, dataCount: dataCount, failure)
        }
        self.metadata = metadata
        self.entries = entries
    }

    /// Checks one header entry against the `dataCount` bytes of tensor data.
    private static func entry(_ name: String, _ value: Any, dataCount: Int, _ failure: (String) -> CheckpointError) throws -> Entry {
        guard let fields = value as? [String: Any] else { throw failure("'\(name)' is not an object") }
        guard let dtype = fields["dtype"] as? String else { throw failure("'\(name)' has no dtype") }
        guard let shape = naturals(fields["shape"]) else { throw failure("'\(name)' has no shape (a list of sizes)") }
        guard let offsets = naturals(fields["data_offsets"]), offsets.count == 2 else {
            throw failure("'\(name)' has no data_offsets ([begin, end])")
        }
        guard let element = StoredType(rawValue: dtype) else {
            throw failure("'\(name)' has dtype \(dtype); supported: " + StoredType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard offsets[0] <= offsets[1], offsets[1] <= dataCount else {
            throw failure("'\(name)': data_offsets \(offsets) lie outside the \(dataCount) bytes of data")
        }
        let expected = shape.reduce((value: element.size, overflow: false)) { product, size in
            let next = product.value.multipliedReportingOverflow(by: size)
            return (next.partialValue, product.overflow || next.overflow)
        }
        let stored = offsets[1] - offsets[0]
        guard !expected.overflow, expected.value == stored else {
            throw failure("'\(name)': \(stored) bytes for shape \(shape) of \(dtype) (\(expected.overflow ? "too many" : "\(expected.value)") expected)")
        }
        return Entry(dtype: dtype, shape: shape, element: element, bytes: offsets[0]..<offsets[1])
    }

    /// A JSON list of non-negative integers, or nil.
    private static func naturals(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in list {
            guard let number = item as? Int, number >= 0 else { return nil }
            result.append(number)
        }
        return result
    }

    /// The tensor `name` widened to `dtype` (float32 by default): F32, F16, BF16, F64, and I64/I32
    /// (PyTorch's num_batches_tracked is int64). F64 read as float32 is rounded.
    public func tensor(_ name: String, dtype: DType = .float32) throws -> Tensor {
        guard let entry = entries[name] else {
            throw CheckpointError(file: path, message: "has no tensor '\(name)' (it has \(entries.count))")
        }
        switch dtype {
        case .float32: return Tensor(shape: entry.shape, scalars: values(of: entry, as: Float.self))
        case .float64: return Tensor(shape: entry.shape, doubles: values(of: entry, as: Double.self))
        }
    }

    /// The elements of `entry`, converted to `T`.
    private func values<T: BinaryFloatingPoint>(of entry: Entry, as _: T.Type) -> [T] {
        let count = entry.count
        return contents.withUnsafeBytes { file in
            let bytes = UnsafeRawBufferPointer(rebasing: file[(dataStart + entry.bytes.lowerBound)..<(dataStart + entry.bytes.upperBound)])
            return [T](unsafeUninitializedCapacity: count) { out, initialized in
                switch entry.element {
                case .F32: for i in 0..<count { out[i] = T(Float(bitPattern: bytes.littleEndian(i, UInt32.self))) }
                case .F16: for i in 0..<count { out[i] = T(Float(Float16(bitPattern: bytes.littleEndian(i, UInt16.self)))) }
                case .BF16: for i in 0..<count { out[i] = T(Float(bitPattern: UInt32(bytes.littleEndian(i, UInt16.self)) << 16)) }
                case .F64: for i in 0..<count { out[i] = T(Double(bitPattern: bytes.littleEndian(i, UInt64.self))) }
                case .I64: for i in 0..<count { out[i] = T(Int64(bitPattern: bytes.littleEndian(i, UInt64.self))) }
                case .I32: for i in 0..<count { out[i] = T(Int32(bitPattern: bytes.littleEndian(i, UInt32.self))) }
                }
                initialized = count
            }
        }
    }

    /// The metadata as checkpoint attributes: `arch` a string, `classes` (comma-separated) strings,
    /// `input_mean` and `input_std` (comma-separated numbers) doubles, `num_classes` an integer
    /// (the number of `classes` when absent), anything else a string.
    func attributes() throws -> [String: AttributeValue] {
        var attributes: [String: AttributeValue] = [:]
        for (key, text) in metadata {
            switch key {
            case "classes":
                attributes[key] = .strings(Self.list(text))
            case "input_mean", "input_std":
                let numbers = Self.list(text).compactMap(Double.init)
                guard numbers.count == Self.list(text).count, !numbers.isEmpty else {
                    throw CheckpointError(file: path, message: "metadata '\(key)' is '\(text)', not comma-separated numbers")
                }
                attributes[key] = .doubles(numbers)
            case "num_classes":
                guard let number = Int64(text.trimmingCharacters(in: .whitespaces)) else {
                    throw CheckpointError(file: path, message: "metadata 'num_classes' is '\(text)', not an integer")
                }
                attributes[key] = .int(number)
            default:
                attributes[key] = .string(text)
            }
        }
        if attributes["num_classes"] == nil, let classes = attributes["classes"]?.stringsValue {
            attributes["num_classes"] = .int(Int64(classes.count))
        }
        return attributes
    }

    /// The comma-separated items of `text`, trimmed (none for an empty text).
    private static func list(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// The element types the reader widens, as safetensors names them.
enum StoredType: String, CaseIterable, Sendable {
    case F32, F16, BF16, F64, I64, I32

    /// Bytes per element.
    var size: Int {
        switch self {
        case .F16, .BF16: 2
        case .F32, .I32: 4
        case .F64, .I64: 8
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Element `index` of a packed little-endian array of `I`, at any alignment.
    fileprivate func littleEndian<I: FixedWidthInteger>(_ index: Int, _: I.Type) -> I {
        I(littleEndian: loadUnaligned(fromByteOffset: index * MemoryLayout<I>.size, as: I.self))
    }
}
