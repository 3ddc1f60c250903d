// Which library runs a matrix product of the engine (matmul's rows, the im2col convolution's
// per-image products): oneDNN's `dnnl_sgemm` or OpenBLAS, chosen per float32 shape by the rule in
// `GEMMKernel.measured` (numbers in BENCHMARKS.md, "GEMM"). float64 always runs on OpenBLAS: oneDNN
// has no dgemm, and the gradient checks compute in float64.
// Threads: every product here runs on one thread, because its callers split the work over the Swift
// workers themselves; oneDNN is asked for an OpenMP team of 1 on each worker (libgomp would
// otherwise start a team per worker and oversubscribe the cores), OpenBLAS runs single-threaded.
// Both libraries give the same bits for the same operands whatever their alignment, so a seed and a
// thread count still fix a run.
import BLAS
internal import DNNL

/// A float32 GEMM implementation.
public enum GEMMKernel: String, Sendable, CaseIterable {
    /// OpenBLAS sgemm (its Haswell kernels under `OPENBLAS_CORETYPE=Haswell`).
    case openBLAS = "openblas"
    /// oneDNN's `dnnl_sgemm`, whose JIT picks the kernel for the CPU at run time.
    case oneDNN = "onednn"

    /// The kernel every float32 product uses, when set (tests, side-by-side benchmarks); nil lets
    /// the measured rule choose per shape. Read on the thread that calls the tensor op, before the
    /// work is split (task-local values do not reach the Swift workers).
    @TaskLocal public static var forced: GEMMKernel?

    /// Runs `body` with every float32 product on `kernel` (nil: the measured rule).
    public static func with<R>(_ kernel: GEMMKernel?, _ body: () throws -> R) rethrows -> R {
        try $forced.withValue(kernel, operation: body)
    }

    /// The kernel for a product of `op(A) [m,k]` and `op(B) [k,n]` with B's leading dimension
    /// `ldb` in elements of `T`: OpenBLAS for float64, else the forced one if set, else the
    /// measured rule's choice. Call it on the thread that calls the tensor op.
    static func choice<T: TensorScalar>(_: T.Type, transposeB: Bool, m: Int, n: Int, k: Int, ldb: Int) -> GEMMChoice {
        guard T.self == Float.self else { return GEMMChoice(kernel: .openBLAS, isForced: false) }
        if let forced { return GEMMChoice(kernel: forced, isForced: true) }
        return GEMMChoice(kernel: measured(transposeB: transposeB, m: m, n: n, k: k, ldb: ldb), isForced: false)
    }

    /// The measured choice for a float32 product of `op(A) [m,k]` and `op(B) [k,n]`, B's rows
    /// `ldb` floats apart (`kdbench gemm`, one thread per product: BENCHMARKS.md, "GEMM").
    /// Where oneDNN runs its AVX-512 kernels, every product goes to it: on an AMD EPYC Zen 5,
    /// dnnl_sgemm is 1.25-7.3x OpenBLAS's Haswell kernels on every shape but one, at parity
    /// (0.97x); the engine issue's probe saw 1.85x on 2048^3 on an Intel Xeon (Ice Lake). Other
    /// AVX-512 CPUs (Zen 4's half-width units, say) are not measured. With AVX2 (Zen 3) it is
    /// 1.0-2x on the engine's small and medium products and even on large ones, and loses where it
    /// reads B in place with rows a multiple of 2 KiB apart, and on products into a handful of columns.
    public static func measured(transposeB: Bool, m: Int, n: Int, k: Int, ldb: Int) -> GEMMKernel {
        if GEMM.runsAVX512 { return .oneDNN }
        // One output row: the depthwise convolutions' per-channel products (2.5-8x on oneDNN).
        if m == 1 { return .oneDNN }
        // B read row by row in place with a stride of 512 floats or a multiple (n = 1024, 9216:
        // 32x32 feature maps, 9216-wide linear layers): its rows fall into the same cache sets,
        // 0.4-0.6x OpenBLAS's speed once k passes 16 rows (at k = 16, 0.9-1.2x).
        if !transposeB && ldb % 512 == 0 && k > 16 { return .openBLAS }
        // Transposed B into fewer than 16 columns (10-class logits, 3x3 weight gradients of one
        // input channel): 0.8-1.0x.
        if transposeB && n < 16 { return .openBLAS }
        return .oneDNN
    }
}

/// OpenBLAS runs single-threaded; the kernels parallelise around it (two levels of threads
/// oversubscribe two cores). Set once, before the first product.
let singleThreadedBLAS: Void = { BLAS.threads = 1 }()

/// A kernel chosen on the calling thread, to hand to the workers: by name (`GEMMKernel.forced`) or by the rule.
struct GEMMChoice: Sendable {
    let kernel: GEMMKernel
    let isForced: Bool
}

/// `C = alpha * op(A) * op(B) + beta * C` on the chosen kernel, one thread, row-major, with `op(A)` `[m,k]`,
/// `op(B)` `[k,n]` and `C` `[m,n]` (as `BLAS.gemm`). A oneDNN failure is reported once and the
/// product runs on OpenBLAS instead, unless oneDNN was forced (then it stops the program: a test
/// or benchmark would otherwise measure OpenBLAS believing it measured oneDNN).
func gemm<T: TensorScalar>(_ choice: GEMMChoice, _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                           alpha: T = 1, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                           beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int) {
    if choice.kernel == .oneDNN, T.self == Float.self {
        do {
            try GEMM.sgemm(transposeA: transA == .transpose, transposeB: transB == .transpose, m: m, n: n, k: k,
                           alpha: Float(alpha), a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda: lda,
                           b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, beta: Float(beta),
                           c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc, threads: 1)
            return
        } catch {
            if choice.isForced { fatalError("\(error) (products forced to \(choice.kernel.rawValue))") }
            DNNLFailures.shared.report(error, fallback: "using OpenBLAS for this product")
        }
    }
    _ = singleThreadedBLAS
    BLAS.gemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
