// `kdbench gemm`: float32 GEMM throughput of OpenBLAS and of oneDNN's `dnnl_sgemm` on a large
// square product and on the shapes the engine multiplies (linear layers at batch 128; the per-image
// products of the im2col convolution path), at 1 and 2 threads, against the FMA peak of the cores
// measured in the same run by a loop of independent FMAs. Behind the GEMM choice in
// Tensor/GEMM.swift and BENCHMARKS.md's "GEMM" section.
import BLAS
import DNNL
import Foundation
import Parallel
import Tensor

enum GEMMBench {
    /// `calls` products of `op(A) [m,k] x op(B) [k,n]` (the engine's per-image products of a batch
    /// when `calls > 1`, all with the same A, each into its own C), scaled by `beta` into C.
    struct Problem {
        let name: String
        let m, n, k: Int
        var transposeA = false, transposeB = false
        var beta: Float = 0
        var calls = 1

        var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(calls) }
        var shape: String { "\(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(m)x\(n)x\(k)" }
    }

    /// The shapes measured. Linear layers: batch 128, forward `x W^T`, input gradient `g W`, weight
    /// gradient `g^T x`; CRD's scores of 128 anchors against 16,384 negatives of 128 values, and
    /// their gradient. Convolutions: batch 128, the GEMM of one image as the im2col kernels in
    /// Tensor+Convolution.swift call it (forward `W [o,c*k*k] x columns`, input gradient
    /// `W^T x G`, weight gradient `G x columns^T` accumulated); the depthwise ones per channel.
    static let problems: [Problem] = [
        Problem(name: "square", m: 2048, n: 2048, k: 2048),
        Problem(name: "mnist_teacher fc1 forward", m: 128, n: 128, k: 9216, transposeB: true),
        Problem(name: "mnist_teacher fc1 input gradient", m: 128, n: 9216, k: 128),
        Problem(name: "mnist_teacher fc1 weight gradient", m: 128, n: 9216, k: 128, transposeA: true),
        Problem(name: "mnist_student fc1 forward", m: 128, n: 32, k: 2304, transposeB: true),
        Problem(name: "mnist_student fc1 input gradient", m: 128, n: 2304, k: 32),
        Problem(name: "mnist_student fc1 weight gradient", m: 32, n: 2304, k: 128, transposeA: true),
        Problem(name: "fc 256->10 forward", m: 128, n: 10, k: 256, transposeB: true),
        Problem(name: "fc 256->10 input gradient", m: 128, n: 256, k: 10),
        Problem(name: "fc 256->10 weight gradient", m: 10, n: 256, k: 128, transposeA: true),
        Problem(name: "crd 16384 negatives scores", m: 128, n: 16384, k: 128, transposeB: true),
        Problem(name: "crd anchor gradient", m: 128, n: 128, k: 16384),
        Problem(name: "mnist_teacher conv1 1->32 forward", m: 32, n: 676, k: 9, calls: 128),
        Problem(name: "mnist_teacher conv1 input gradient", m: 9, n: 676, k: 32, transposeA: true, calls: 128),
        Problem(name: "mnist_teacher conv1 weight gradient", m: 32, n: 9, k: 676, transposeB: true, beta: 1, calls: 128),
        Problem(name: "mnist_student conv1 1->8 weight gradient", m: 8, n: 9, k: 676, transposeB: true, beta: 1, calls: 128),
        Problem(name: "wrn 1x1 16->32 s2 forward", m: 32, n: 256, k: 16, calls: 128),
        Problem(name: "wrn 1x1 16->32 s2 input gradient", m: 16, n: 256, k: 32, transposeA: true, calls: 128),
        Problem(name: "wrn 1x1 16->32 s2 weight gradient", m: 32, n: 16, k: 256, transposeB: true, beta: 1, calls: 128),
        Problem(name: "wrn stem 3->16 input gradient", m: 27, n: 1024, k: 16, transposeA: true, calls: 128),
        Problem(name: "depthwise 3x3 32x32 forward", m: 1, n: 1024, k: 9, calls: 4096),
        Problem(name: "depthwise 3x3 32x32 weight gradient", m: 1, n: 9, k: 1024, transposeB: true, beta: 1, calls: 4096),
        Problem(name: "wrn group1 3x3 16->16 32x32 forward", m: 16, n: 1024, k: 144, calls: 128),
        Problem(name: "wrn group1 input gradient", m: 144, n: 1024, k: 16, transposeA: true, calls: 128),
        Problem(name: "wrn group1 weight gradient", m: 16, n: 144, k: 1024, transposeB: true, beta: 1, calls: 128),
        Problem(name: "wrn group2 3x3 32->32 16x16 forward", m: 32, n: 256, k: 288, calls: 128),
        Problem(name: "wrn group3 3x3 64->64 8x8 forward", m: 64, n: 64, k: 576, calls: 128),
        Problem(name: "3x3 64->64 32x32 forward", m: 64, n: 1024, k: 576, calls: 128),
        Problem(name: "mnist_teacher conv2 32->64 forward", m: 64, n: 576, k: 288, calls: 128),
    ]

    /// A way of running a problem: a library, its threads per call, and how many Swift workers
    /// share the calls (or, for a single call, its rows of C).
    struct Kernel {
        let name: String
        let dnnl: Bool
        let libraryThreads: Int
        let workers: Int
    }

    static let kernels: [Kernel] = [
        Kernel(name: "OpenBLAS 1", dnnl: false, libraryThreads: 1, workers: 1),
        Kernel(name: "dnnl 1", dnnl: true, libraryThreads: 1, workers: 1),
        Kernel(name: "OpenBLAS 2", dnnl: false, libraryThreads: 2, workers: 1),
        Kernel(name: "dnnl 2", dnnl: true, libraryThreads: 2, workers: 1),
        Kernel(name: "OpenBLAS 2 workers x 1", dnnl: false, libraryThreads: 1, workers: 2),
        Kernel(name: "dnnl 2 workers x 1", dnnl: true, libraryThreads: 1, workers: 2),
    ]

    static func run() throws {
        let rounds = 7
        let peak1 = fmaPeak(threads: 1), peak2 = fmaPeak(threads: 2)
        defer {
            print(String(format: "\nFMA peak measured again after the table: %.1f GFLOP/s on 1 thread, %.1f on 2", fmaPeak(threads: 1), fmaPeak(threads: 2)))
        }
        let clock = cpuMHz()
        let nominal = clock.map { String(format: "; 2 FMA units x 8 floats x 2 flops x %.0f MHz (/proc/cpuinfo) = %.1f per core", $0, 32 * $0 / 1000) }
        print("FMA peak, measured (12 independent chains of 8-float FMAs per thread, fastest of 5): "
              + String(format: "%.1f GFLOP/s on 1 thread, %.1f on 2", peak1, peak2) + (nominal ?? ""))
        print("OpenBLAS kernel \(BLAS.coreName); OMP_WAIT_POLICY=" + (ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)"))
        print("GFLOP/s, the fastest of \(rounds) rounds (each round runs every kernel once, so load changes hit all alike) after"
              + " a warm-up. \"N\": one call on N library threads; \"2 workers x 1\": two Swift workers, each on its share of the"
              + " calls (rows of C for one call) with one library thread, as the engine runs them. \"% peak\": the best 1- and"
              + " 2-thread figure against the peak above; \"rule\": the library `GEMMKernel.measured` picks for the shape.\n")
        print(row(["problem", "op m x n x k", "calls"] + kernels.map(\.name) + ["best 1 % peak", "best 2 % peak", "dnnl / OpenBLAS 1", "rule"]))
        print(row(["---", "---", "---:"] + kernels.map { _ in "---:" } + ["---:", "---:", "---:", "---"]))
        let only = ProcessInfo.processInfo.environment["KDBENCH_GEMMS"].map { $0.split(separator: ",").map(String.init) }
        for problem in problems where only?.contains(where: problem.name.contains) ?? true {
            let rates = try measure(problem, rounds: rounds)
            let best1 = max(rates[0], rates[1]), best2 = rates[2...].max()!
            let rule = GEMMKernel.measured(transposeB: problem.transposeB, m: problem.m, n: problem.n, k: problem.k,
                                           ldb: problem.transposeB ? problem.k : problem.n)
            print(row([problem.name, problem.shape, "\(problem.calls)"] + rates.map { String(format: "%.1f", $0) }
                      + [String(format: "%.0f", 100 * best1 / peak1), String(format: "%.0f", 100 * best2 / peak2),
                         String(format: "%.2f", rates[1] / rates[0]), rule.rawValue]))
        }
        BLAS.threads = 1
    }

    /// GFLOP/s of `problem` on each kernel: the fastest of `rounds` interleaved rounds.
    static func measure(_ problem: Problem, rounds: Int) throws -> [Double] {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &generator) } }
        let a = random(problem.m * problem.k)
        // One B per worker (the engine's per-worker column matrix), one C per call.
        let bs = random(2 * problem.k * problem.n)
        var cs = [Float](repeating: 0, count: problem.calls * problem.m * problem.n)
        var times = [[Double]](repeating: [], count: kernels.count)
        try a.withUnsafeBufferPointer { a in
            try bs.withUnsafeBufferPointer { bs in
                try cs.withUnsafeMutableBufferPointer { cs in
                    let operands = Operands(a: SendablePointer(base: UnsafeMutablePointer(mutating: a.baseAddress!)),
                                            b: SendablePointer(base: UnsafeMutablePointer(mutating: bs.baseAddress!)),
                                            c: SendablePointer(base: cs.baseAddress!))
                    for kernel in kernels { try run(problem, kernel, operands) }
                    for _ in 0..<rounds {
                        for (index, kernel) in kernels.enumerated() {
                            let start = DispatchTime.now().uptimeNanoseconds
                            try run(problem, kernel, operands)
                            times[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                        }
                    }
                }
            }
        }
        return times.map { problem.flops / $0.min()! / 1e9 }
    }

    struct Operands: Sendable {
        let a, b, c: SendablePointer<Float>
    }

    /// Runs every call of `problem` once on `kernel`.
    static func run(_ problem: Problem, _ kernel: Kernel, _ operands: Operands) throws {
        let (m, n, k) = (problem.m, problem.n, problem.k)
        let (lda, ldb) = (problem.transposeA ? m : k, problem.transposeB ? k : n)
        BLAS.threads = kernel.libraryThreads
        /// Rows `rows` of C for call `call`, with worker `worker`'s B.
        @Sendable func product(_ call: Int, _ rows: Range<Int>, _ worker: Int) throws {
            let a = UnsafePointer(operands.a.base + (problem.transposeA ? rows.lowerBound : rows.lowerBound * lda))
            let b = UnsafePointer(operands.b.base + worker * k * n)
            let c = operands.c.base + call * m * n + rows.lowerBound * n
            if kernel.dnnl {
                try GEMM.sgemm(transposeA: problem.transposeA, transposeB: problem.transposeB, m: rows.count, n: n, k: k,
                               a: a, lda: lda, b: b, ldb: ldb, beta: problem.beta, c: c, ldc: n, threads: kernel.libraryThreads)
            } else {
                BLAS.gemm(problem.transposeA ? .transpose : .none, problem.transposeB ? .transpose : .none, m: rows.count, n: n, k: k,
                          a: a, lda: lda, b: b, ldb: ldb, beta: problem.beta, c: c, ldc: n)
            }
        }
        let failures = Failures()
        if problem.calls == 1 {
            parallelRanges(m, workers: kernel.workers) { worker, rows in failures.run { try product(0, rows, worker) } }
        } else {
            parallelRanges(problem.calls, workers: kernel.workers) { worker, calls in
                for call in calls { failures.run { try product(call, 0..<m, worker) } }
            }
        }
        try failures.rethrow()
    }

    /// The first error thrown on a worker, rethrown on the calling thread.
    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var error: Error?

        func run(_ body: () throws -> Void) {
            do { try body() } catch {
                lock.lock()
                if self.error == nil { self.error = error }
                lock.unlock()
            }
        }

        func rethrow() throws {
            if let error { throw error }
        }
    }

    /// GFLOP/s of `threads` threads each running `fmaChains`, the fastest of 5 after a warm-up.
    static func fmaPeak(threads: Int) -> Double {
        let iterations = 40_000_000
        let sink = Sink()
        var fastest = Double.infinity
        for run in 0...5 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { _ in sink.add(fmaChains(iterations)) }
            if run > 0 { fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        return Double(threads) * Double(iterations) * 12 * 16 / fastest / 1e9
    }

    /// Keeps the chains' results alive so the optimiser cannot drop them.
    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var total: Float = 0
        func add(_ value: Float) {
            lock.lock()
            total += value
            lock.unlock()
        }
    }

    /// `iterations` rounds of 12 independent FMA chains on 8 floats (`x = x * 0.999 + 0.001`, which
    /// stays near 1): 192 flops a round, 12 chains being enough to hide the FMA latency of both units.
    @inline(never)
    static func fmaChains(_ iterations: Int) -> Float {
        let (scale, offset) = (SIMD8<Float>(repeating: 0.999), SIMD8<Float>(repeating: 0.001))
        var (x0, x1, x2, x3) = (SIMD8<Float>(repeating: 0.1), SIMD8<Float>(repeating: 0.2), SIMD8<Float>(repeating: 0.3), SIMD8<Float>(repeating: 0.4))
        var (x4, x5, x6, x7) = (SIMD8<Float>(repeating: 0.5), SIMD8<Float>(repeating: 0.6), SIMD8<Float>(repeating: 0.7), SIMD8<Float>(repeating: 0.8))
        var (x8, x9, x10, x11) = (SIMD8<Float>(repeating: 0.9), SIMD8<Float>(repeating: 1.0), SIMD8<Float>(repeating: 1.1), SIMD8<Float>(repeating: 1.2))
        for _ in 0..<iterations {
            x0 = offset.addingProduct(x0, scale); x1 = offset.addingProduct(x1, scale)
            x2 = offset.addingProduct(x2, scale); x3 = offset.addingProduct(x3, scale)
            x4 = offset.addingProduct(x4, scale); x5 = offset.addingProduct(x5, scale)
            x6 = offset.addingProduct(x6, scale); x7 = offset.addingProduct(x7, scale)
            x8 = offset.addingProduct(x8, scale); x9 = offset.addingProduct(x9, scale)
            x10 = offset.addingProduct(x10, scale); x11 = offset.addingProduct(x11, scale)
        }
        let sum = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) + ((x8 + x9) + (x10 + x11))
        return sum.sum()
    }

    /// The clock /proc/cpuinfo reports for the first core, in MHz (nil where there is none).
    static func cpuMHz() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu MHz") }),
              let value = line.split(separator: ":").last else { return nil }
        return Double(value.trimmingCharacters(in: .whitespaces))
    }
}
