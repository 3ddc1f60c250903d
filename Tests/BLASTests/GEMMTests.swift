// OpenBLAS's GEMM through the wrapper, against a naive product, in both precisions and layouts.
import BLAS
import Testing

@Suite struct GEMMTests {
    func naive(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Double] {
        (0..<(m * n)).map { index in
            let (i, j) = (index / n, index % n)
            return (0..<k).reduce(0.0) { sum, p in
                sum + (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j])
            }
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesNaiveProduct(transA: Bool, transB: Bool) {
        let (m, n, k) = (5, 7, 3)
        let a = (0..<(m * k)).map { Double($0 % 11) - 4.5 }
        let b = (0..<(k * n)).map { Double($0 % 5) * 0.25 - 0.5 }
        let expected = naive(a, b, m: m, n: n, k: k, transA: transA, transB: transB)
        var c = [Double](repeating: 1, count: m * n)
        BLAS.gemm(transA ? .transpose : .none, transB ? .transpose : .none, m: m, n: n, k: k,
                  alpha: 2, a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n, beta: 0.5, c: &c, ldc: n)
        #expect(c == expected.map { 2 * $0 + 0.5 })

        var single = [Float](repeating: 0, count: m * n)
        BLAS.gemm(transA ? .transpose : .none, transB ? .transpose : .none, m: m, n: n, k: k,
                  a: a.map(Float.init), lda: transA ? m : k, b: b.map(Float.init), ldb: transB ? k : n, c: &single, ldc: n)
        #expect(zip(single, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 })
    }

    @Test func threadCountIsControlled() {
        let before = BLAS.threads
        BLAS.threads = 1
        #expect(BLAS.threads == 1)
        BLAS.threads = before
        #expect(!BLAS.coreName.isEmpty)
    }
}
