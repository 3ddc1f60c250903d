// OpenBLAS's GEMM through the wrapper, against a naive product, in both precisions and layouts;
// the thread count by the work the calling thread does.
import BLAS
import Foundation
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

    /// CPU seconds the calling thread spent in the fastest of three `n x n x n` products.
    func callerSeconds(threads: Int, n: Int) -> Double {
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let before = BLAS.threads
        defer { BLAS.threads = before }
        BLAS.threads = threads
        return (0..<3).map { _ in
            let start = threadCPUSeconds()
            BLAS.gemm(.none, .none, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
            return threadCPUSeconds() - start
        }.min()!
    }

    func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// With one thread the caller computes the whole product; with two it hands about half to
    /// OpenBLAS's worker, so its own CPU time drops (to ~0.5; a thread count that were ignored
    /// would leave it at 1). The count is process-wide and the other suites running alongside set
    /// it to 1 when they first multiply (and load the cores), so the best of five rounds counts.
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs 2 cores to see a second BLAS thread work"))
    func twoThreadsShareOneProduct() {
        let rounds = (0..<5).map { _ in (one: callerSeconds(threads: 1, n: 1536), two: callerSeconds(threads: 2, n: 1536)) }
        let best = rounds.min { $0.two / $0.one < $1.two / $1.one }!
        #expect(best.two < 0.8 * best.one, "caller CPU seconds, best of 5 rounds: \(best.one) with 1 thread, \(best.two) with 2")
        #expect(!BLAS.coreName.isEmpty)
    }
}
