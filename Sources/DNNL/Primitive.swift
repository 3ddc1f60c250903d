// A created oneDNN primitive with its descriptor, and how it runs: memory objects wrap the caller's
// buffers for one call, and the scratchpad is the caller's too (user scratchpad mode), so the same
// primitive can run on several threads at once.
internal import CDNNL

/// One execution argument: oneDNN's argument number, the layout, and the buffer.
struct Argument {
    let number: Int32
    let descriptor: MemoryDescriptor
    let buffer: UnsafeMutableRawPointer
}

/// A primitive descriptor and the primitive made from it; both destroyed with the object.
final class Primitive: @unchecked Sendable {
    private let descriptor: dnnl_primitive_desc_t
    private let primitive: dnnl_primitive_t
    private let scratchpad: MemoryDescriptor
    /// The forward descriptor a backward primitive was made with: oneDNN keeps a pointer to it.
    private let hint: dnnl_primitive_desc_t?
    private let engine: Engine
    /// What the primitive is, for error messages.
    let name: String

    /// Takes ownership of `descriptor` and `hint` (destroyed even if creating the primitive fails).
    init(descriptor: dnnl_primitive_desc_t, hint: dnnl_primitive_desc_t? = nil, engine: Engine, name: String) throws {
        self.descriptor = descriptor
        self.hint = hint
        self.engine = engine
        self.name = name
        var created: dnnl_primitive_t?
        do {
            try dnnl("creating \(name)") { dnnl_primitive_create(&created, descriptor) }
        } catch {
            dnnl_primitive_desc_destroy(descriptor)
            if let hint { dnnl_primitive_desc_destroy(hint) }
            throw error
        }
        primitive = created!
        scratchpad = MemoryDescriptor(raw: dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0).pointee)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
        if let hint { dnnl_primitive_desc_destroy(hint) }
    }

    /// The layout the primitive chose for the operand `query` (`dnnl_query_src_md`, ...).
    func layout(_ query: dnnl_query_t) -> MemoryDescriptor {
        MemoryDescriptor(raw: dnnl_primitive_desc_query_md(descriptor, query, 0).pointee)
    }

    /// oneDNN's name of the implementation it picked (`jit:avx2`, `gemm:jit`, ...).
    var implementation: String {
        var text: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &text) == dnnl_success, let text else { return "?" }
        return String(cString: text)
    }

    /// Runs the primitive on `arguments` and waits for it.
    func run(_ arguments: [Argument]) throws {
        var memories: [dnnl_exec_arg_t] = []
        defer { for memory in memories { dnnl_memory_destroy(memory.memory) } }
        func wrap(_ number: Int32, _ layout: MemoryDescriptor, _ buffer: UnsafeMutableRawPointer) throws {
            var memory: dnnl_memory_t?
            var raw = layout.raw
            try dnnl("wrapping a buffer for \(name)") { dnnl_memory_create(&memory, &raw, engine.handle, buffer) }
            memories.append(dnnl_exec_arg_t(arg: number, memory: memory))
        }
        for argument in arguments { try wrap(argument.number, argument.descriptor, argument.buffer) }
        try ScratchMemory.shared.with(scratchpad.byteCount) { scratch in
            if let scratch { try wrap(kd_DNNL_ARG_SCRATCHPAD(), scratchpad, scratch) }
            try engine.withStream { stream in
                try dnnl("running \(name)") { dnnl_primitive_execute(primitive, stream, Int32(memories.count), memories) }
                try dnnl("waiting for \(name)") { dnnl_stream_wait(stream) }
            }
        }
    }
}

/// Primitive attributes asking for a scratchpad passed at execution (see `Primitive.run`).
func userScratchpadAttributes() throws -> dnnl_primitive_attr_t {
    var attributes: dnnl_primitive_attr_t?
    try dnnl("creating primitive attributes") { dnnl_primitive_attr_create(&attributes) }
    do {
        try dnnl("asking for a user scratchpad") { dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user) }
    } catch {
        dnnl_primitive_attr_destroy(attributes)
        throw error
    }
    return attributes!
}
