// Matrix products on OpenBLAS, and control of its thread pool. Nothing above sees a C pointer type
// from cblas.h: operands are Swift buffer pointers, row-major.
internal import CBLAS

/// Whether an operand is used as stored or transposed.
public enum Transpose: Sendable { case none, transpose }

/// Elements OpenBLAS multiplies: `Float` (sgemm) and `Double` (dgemm).
public protocol GEMMScalar: BinaryFloatingPoint, Sendable {}
extension Float: GEMMScalar {}
extension Double: GEMMScalar {}

/// Row-major general matrix product on OpenBLAS.
public enum BLAS {
    /// `C = alpha * op(A) * op(B) + beta * C`, with `op(A)` of shape `[m,k]`, `op(B)` `[k,n]`,
    /// `C` `[m,n]`, all row-major with leading dimensions `lda`, `ldb`, `ldc`.
    public static func gemm<T: GEMMScalar>(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: T = 1, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        let ta = transA == .none ? CblasNoTrans : CblasTrans
        let tb = transB == .none ? CblasNoTrans : CblasTrans
        if T.self == Float.self {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), Float(alpha),
                        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb), Float(beta),
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
        } else {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), Double(alpha),
                        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), Double(beta),
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
        }
    }

    /// The number of threads OpenBLAS uses for one call. Set it to 1 when the caller
    /// parallelises across calls itself (two levels of threads oversubscribe 2 cores).
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The kernel family OpenBLAS chose (`Haswell`, `SkylakeX`, ...), as set by
    /// `OPENBLAS_CORETYPE` or detected.
    public static var coreName: String {
        String(cString: openblas_get_corename())
    }
}
