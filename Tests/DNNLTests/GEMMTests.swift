// oneDNN's sgemm through the wrapper: a naive product in every transpose combination, with alpha,
// beta and padded leading dimensions; the thread count; arguments oneDNN refuses.
import DNNL
import Testing

@Suite struct GEMMTests {
    /// `alpha * op(A) op(B) + beta * C` in Double, reading the operands as stored with their leading dimensions.
    func naive(_ a: [Float], _ b: [Float], _ c: [Float], m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int,
               transA: Bool, transB: Bool, alpha: Double, beta: Double) -> [Double] {
        var result = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                let sum = (0..<k).reduce(0.0) { sum, p in
                    sum + Double(transA ? a[p * lda + i] : a[i * lda + p]) * Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                }
                result[i * ldc + j] = alpha * sum + beta * Double(c[i * ldc + j])
            }
        }
        return result
    }

    @Test(arguments: [false, true], [false, true])
    func matchesANaiveProduct(transA: Bool, transB: Bool) throws {
        for threads in [1, 2] { try check(transA: transA, transB: transB, threads: threads) }
    }

    func check(transA: Bool, transB: Bool, threads: Int) throws {
        let (m, n, k) = (13, 7, 29)
        // Leading dimensions wider than the matrices, so a kernel that ignores them fails.
        let (lda, ldb, ldc) = ((transA ? m : k) + 3, (transB ? k : n) + 2, n + 5)
        // Quarter-integers: every product and partial sum is exact in float32, so any order agrees.
        let a = (0..<((transA ? k : m) * lda)).map { Float($0 % 9) * 0.25 - 1 }
        let b = (0..<((transB ? n : k) * ldb)).map { Float($0 % 7) * 0.5 - 1.5 }
        var c = (0..<(m * ldc)).map { Float($0 % 5) - 2 }
        let expected = naive(a, b, c, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transA: transA, transB: transB, alpha: 2, beta: 0.5)
        try GEMM.sgemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: 2, a: a, lda: lda, b: b, ldb: ldb,
                       beta: 0.5, c: &c, ldc: ldc, threads: threads)
        #expect(c.map(Double.init) == expected)
    }

    @Test func aLeadingDimensionShorterThanARowThrowsWithTheSizes() {
        let a = [Float](repeating: 1, count: 6), b = [Float](repeating: 1, count: 6)
        var c = [Float](repeating: 0, count: 4)
        #expect {
            try GEMM.sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 3, a: a, lda: 1, b: b, ldb: 2, c: &c, ldc: 2, threads: 1)
        } throws: { error in
            guard let error = error as? DNNLError else { return false }
            return error.status == "invalid_arguments" && error.description.contains("m=2 n=2 k=3 lda=1")
        }
    }
}
