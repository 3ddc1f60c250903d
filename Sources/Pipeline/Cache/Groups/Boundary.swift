// `boundary/<point> [V, N, ceil(C*H*W/8)]` uint8: where a teacher's pre-ReLU response is > 0,
// one bit per neuron, packed 8 to a byte most significant bit first (numpy's `packbits` order).
// The bit order lives here and only here (`BitPacking`).
import HDF5
import Tensor

/// numpy's `packbits`/`unpackbits` order: element e of an image is bit `7 - e % 8` of byte `e / 8`.
public enum BitPacking {
    /// Bytes per image for `elements` bits.
    public static func bytes(_ elements: Int) -> Int { (elements + 7) / 8 }

    /// Whether element `element` is set in the image whose bytes start at index `start` of `bytes`.
    @inline(__always)
    public static func isSet(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ element: Int) -> Bool {
        (bytes[start + element >> 3] >> (7 - UInt8(element & 7))) & 1 != 0
    }

    /// `values > 0` of `images` images, each image's bits padded to whole bytes.
    public static func pack(_ values: [Float], images: Int) -> [UInt8] {
        let elements = values.count / Swift.max(1, images), perImage = bytes(elements)
        var packed = [UInt8](repeating: 0, count: images * perImage)
        for image in 0..<images {
            for element in 0..<elements where values[image * elements + element] > 0 {
                packed[image * perImage + element >> 3] |= 0x80 >> UInt8(element & 7)
            }
        }
        return packed
    }

    /// 0/1 floats of `images` images of `elements` bits each.
    public static func unpack(_ packed: [UInt8], images: Int, elements: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: images * elements) { mask, initialized in
            unpack(packed, images: images, elements: elements, into: mask.baseAddress!)
            initialized = images * elements
        }
    }

    /// 0/1 floats of `images` images of `elements` bits each, written to `mask` (`images * elements`
    /// of them): whole bytes eight bits at a time, then the bits of an image's last partial byte.
    public static func unpack(_ packed: [UInt8], images: Int, elements: Int, into mask: UnsafeMutablePointer<Float>) {
        let perImage = bytes(elements), whole = elements / 8
        let shifts = SIMD8<UInt8>(7, 6, 5, 4, 3, 2, 1, 0)
        packed.withUnsafeBufferPointer { packed in
            for image in 0..<images {
                let (source, target) = (image * perImage, mask + image * elements)
                for byte in 0..<whole {
                    let bits = (SIMD8<UInt8>(repeating: packed[source + byte]) &>> shifts) & 1
                    UnsafeMutableRawPointer(target + byte * 8).storeBytes(of: SIMD8<Float>(bits), as: SIMD8<Float>.self)
                }
                for element in (whole * 8)..<elements { target[element] = isSet(packed, source, element) ? 1 : 0 }
            }
        }
    }
}

/// The firing pattern (sign bits) of one teacher pre-activation point.
public struct Boundary: CacheGroup {
    /// The teacher's pre-activation point (one of its `preActivationNames`).
    public let point: String
    /// `[C]` for a linear layer, `[C, H, W]` for a convolution.
    public let shape: [Int]

    /// The firing bits of `point`, whose response per image is `shape`.
    public init(point: String, shape: [Int]) {
        self.point = point
        self.shape = shape
    }

    /// `boundary/<point>`, the dataset's path.
    public var name: String { "boundary/" + point }
    /// The option that lists the boundary points.
    public static let option = "cache.boundary"
    var elements: Int { shape.reduce(1, *) }

    /// One uint8 dataset `[V, N, ceil(C*H*W/8)]` with attributes C, H, W and meaning.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: name, type: .uint8, row: [BitPacking.bytes(elements)],
                      attributes: [("C", .int(Int64(shape[0]))), ("H", .int(Int64(shape.count > 1 ? shape[1] : 1))),
                                   ("W", .int(Int64(shape.count > 2 ? shape[2] : 1))),
                                   ("meaning", "bit set where the pre-ReLU response is > 0, C*H*W bits per image, most significant bit first (numpy.unpackbits)")])]
    }

    /// The batch's pre-ReLU responses `[n] + shape` as packed sign bits, `[n, ceil(C*H*W/8)]`.
    public func rows(from pass: TeacherPass) -> [CachedValues] {
        let pre = pass.preActivation(point)
        return [.uint8(BitPacking.pack(pre.scalars, images: pre.shape[0]))]
    }

    /// At most 1 in 10,000 bits may differ (signs of responses within rounding of zero).
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        let (stored, recomputed) = (cached[0].bytes, live[0].bytes)
        let differing = zip(stored, recomputed).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
        // A sign can flip only where the response is within rounding of zero.
        let score = Double(differing * 10_000) / Double(Swift.max(1, stored.count * 8))
        return [CacheCheck(name: name, detail: "\(differing) of \(stored.count * 8) bits differ (limit 1 in 10,000)", passed: score <= 1, score: score)]
    }

    /// The 0/1 firing mask `[n] + shape`.
    public func firing(_ rows: [CachedValues], count n: Int) -> Tensor {
        let mask = Tensor.zeros([n] + shape)
        precondition(rows[0].count == n * BitPacking.bytes(elements), "\(rows[0].count) cached bytes for \(n) images of \(shape)")
        mask.withUnsafeMutableFloats { BitPacking.unpack(rows[0].bytes, images: n, elements: elements, into: $0) }
        return mask
    }

    /// Every `boundary/<point>` dataset of `file`; one without C, H and W attributes is an error.
    public static func stored(in file: HDF5File) throws -> [Boundary] {
        guard try file.contains("boundary") else { return [] }
        return try file.group("boundary").childNames().map { point in
            let path = "boundary/" + point
            let dataset = try file.dataset(path, as: UInt8.self)
            func size(_ key: String) throws -> Int {
                guard try dataset.hasAttribute(key), let value = try dataset.attribute(key).intValue else {
                    throw HDF5Error(file: file.filePath, object: path, message: "has no '\(key)' attribute (boundary bits need C, H and W)")
                }
                return Int(value)
            }
            let (c, h, w) = (try size("C"), try size("H"), try size("W"))
            return Boundary(point: point, shape: h == 1 && w == 1 ? [c] : [c, h, w])
        }
    }
}
