// Row-major float32 matrix products on oneDNN's JIT GEMM (`dnnl_sgemm`, which picks its kernel
// for the CPU at run time). It runs on the calling thread's OpenMP team, sized here on every call:
// from inside the engine's Swift workers ask for 1 thread (libgomp would otherwise give each
// worker a team of its own and oversubscribe the cores). oneDNN has no float64 GEMM.
internal import CDNNL

/// `dnnl_sgemm` behind a Swift signature that throws instead of returning a status.
public enum GEMM {
    /// Whether oneDNN's kernels on this CPU are its AVX-512 ones (`dnnl_get_effective_cpu_isa`
    /// includes `avx512_core`): read at run time, as oneDNN itself picks them.
    public static let runsAVX512: Bool = {
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & avx512 == avx512
    }()

    /// `C = alpha * op(A) * op(B) + beta * C` with `op(A)` `[m,k]`, `op(B)` `[k,n]` and `C` `[m,n]`,
    /// all row-major with leading dimensions `lda`, `ldb`, `ldc` (so A is stored `[m,lda]`, or
    /// `[k,lda]` when `transposeA`; likewise B). Runs on `threads` OpenMP threads of the calling
    /// thread. Throws a `DNNLError` naming the sizes when oneDNN refuses them.
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) throws {
        OpenMP.setThreads(threads)
        let (ta, tb) = (CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")))
        try dnnl("sgemm \(transposeA ? "T" : "N")\(transposeB ? "T" : "N") m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc)") {
            dnnl_sgemm(ta, tb, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        }
    }
}
