// Memory descriptors: the shape, element type and layout oneDNN sees for an operand.
internal import CDNNL

/// A float32 memory descriptor: dimensions and a layout (a format tag, or oneDNN's own choice).
struct MemoryDescriptor {
    var raw: dnnl_memory_desc_t

    /// `dims` in the order oneDNN names them (NCHW for data, OIHW for weights) with `tag`
    /// (`dnnl_nchw`, `dnnl_oihw`, or `dnnl_format_tag_any` to let the primitive choose), an
    /// operand of `user` (for error messages).
    init(_ dims: [Int], tag: dnnl_format_tag_t, of user: String) throws {
        raw = dnnl_memory_desc_t()
        let extents = dims.map(Int64.init)
        try dnnl("describing the float32 tensor \(dims) of \(user)") {
            dnnl_memory_desc_init_by_tag(&raw, Int32(dims.count), extents, dnnl_f32, tag)
        }
    }

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// Bytes a buffer in this layout needs (blocked layouts pad channels to the block size).
    var byteCount: Int {
        withUnsafePointer(to: raw) { Int(dnnl_memory_desc_get_size($0)) }
    }

    /// Whether both describe the same layout of the same dimensions.
    func sameLayout(as other: MemoryDescriptor) -> Bool {
        withUnsafePointer(to: raw) { a in withUnsafePointer(to: other.raw) { b in dnnl_memory_desc_equal(a, b) != 0 } }
    }
}
