// Matrix products: `[m,k] x [k,n]`, either operand optionally transposed. Rows of the result are
// split over the compute threads, each running a single-threaded GEMM (GEMM.swift picks oneDNN or
// OpenBLAS for the shape).
import Parallel

private func matmulKernel<T: TensorScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, _ out: Tensor,
                                           m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
    let choice = GEMMKernel.choice(T.self, transposeB: transposeB, m: m, n: n, k: k, ldb: transposeB ? k : n)
    let (pa, pb, pc) = (SendablePointer(base: a.pointer(T.self)), SendablePointer(base: b.pointer(T.self)),
                        SendablePointer(base: out.pointer(T.self)))
    let work = m * n * k
    parallelRanges(m, workers: work >= 1 << 18 ? ComputeThreads.count : 1, minimumPerWorker: 8) { _, rows in
        // Rows of op(A): rows of A, or columns of A when transposed.
        let aStart = transposeA ? pa.base + rows.lowerBound : pa.base + rows.lowerBound * k
        gemm(choice, transposeA ? .transpose : .none, transposeB ? .transpose : .none, m: rows.count, n: n, k: k,
             a: aStart, lda: transposeA ? m : k, b: pb.base, ldb: transposeB ? k : n,
             c: pc.base + rows.lowerBound * n, ldc: n)
    }
}

extension Tensor {
    /// The product `op(a) x op(b)` of two matrices, where `op` transposes when asked.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2 && a.dtype == b.dtype, "matmul of \(a.shape) and \(b.shape)")
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        precondition(k == k2, "matmul: inner dimensions \(k) and \(k2) differ (\(a.shape) x \(b.shape), transposed \(transposeA), \(transposeB))")
        let out = Tensor(uninitializedShape: [m, n], dtype: a.dtype)
        if k == 0 {
            return Tensor.zeros([m, n], dtype: a.dtype).recorded(.matmul(transposeA: transposeA, transposeB: transposeB), [a, b])
        }
        switch a.dtype {
        case .float32: matmulKernel(Float.self, a, b, out, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        case .float64: matmulKernel(Double.self, a, b, out, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
        }
        return out.recorded(.matmul(transposeA: transposeA, transposeB: transposeB), [a, b])
    }
}
