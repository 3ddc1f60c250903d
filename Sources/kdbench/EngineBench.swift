// Images/s of the teacher forward pass (evaluation, no gradients) and of one training step
// (forward, cross-entropy, backward, SGD) for the models of the issue, at 1 and 2 threads,
// with the achieved GFLOP/s (2 x MACs x images/s, x3 for a training step). KDBENCH_MODELS and
// KDBENCH_THREADS (comma-separated) narrow the models and thread counts.
import BLAS
import Foundation
import Losses
import NN
import Optimizers
import Parallel
import Tensor

enum EngineBench {
    static let models: [(String, Int, Int)] = [("mnist_teacher", 1, 28), ("mnist_student", 1, 28), ("resnet8x4", 3, 32),
                                               ("wrn_16_1", 3, 32), ("wrn_16_2", 3, 32), ("resnet32x4", 3, 32),
                                               // the CIFAR-10 pipeline's candidate pairs (pipelines/cifar10.yaml)
                                               ("resnet8", 3, 32), ("resnet20", 3, 32), ("resnet56", 3, 32)]

    static func run() throws {
        gemmPeak()
        let batch = 128
        let environment = ProcessInfo.processInfo.environment
        let only = environment["KDBENCH_MODELS"].map { Set($0.split(separator: ",").map(String.init)) }
        let threadCounts = try environment["KDBENCH_THREADS"].map { text in
            try text.split(separator: ",").map { item in
                guard let count = Int(item), count > 0 else { throw BenchError("KDBENCH_THREADS=\(text): expected positive counts such as 1,2") }
                return count
            }
        } ?? [1, 2]
        print("Batch \(batch), random data, median of 5 after 2 warm-ups; GFLOP/s = 2 x MACs x images/s (x3 for a step).\n")
        print(row(["model", "threads", "forward img/s", "forward GFLOP/s", "train step img/s", "train GFLOP/s"]))
        print(row(["---", "---:", "---:", "---:", "---:", "---:"]))
        for (name, channels, size) in models where only?.contains(name) ?? true {
            for threads in threadCounts { try ComputeThreads.with(threads) {
                let model = try Models.make(name, classes: 10, inChannels: channels, imageSize: size, seed: 0)
                var generator = SeededGenerator(seed: 1)
                let x = Tensor.randomNormal([batch, channels, size, size], generator: &generator)
                let labels = (0..<batch).map { $0 % 10 }
                model.train(false)
                let forward = medianSeconds(repeats: 5, warmUps: 2) { GradMode.withoutGrad { _ = model(x) } }
                model.train(true)
                let optimizer = SGD(model.namedParameters(), learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
                let step = medianSeconds(repeats: 5, warmUps: 2) {
                    optimizer.zeroGrad()
                    crossEntropy(logits: model(x), labels: labels).backward()
                    optimizer.step()
                }
                let flops = 2 * Double(model.macsPerImage)
                print(row([name, "\(threads)", String(format: "%.0f", Double(batch) / forward),
                           String(format: "%.1f", flops * Double(batch) / forward / 1e9),
                           String(format: "%.0f", Double(batch) / step),
                           String(format: "%.1f", 3 * flops * Double(batch) / step / 1e9)]))
            } }
        }
    }

    /// The GEMM ceiling the engine works under: OpenBLAS sgemm on 1024x1024 matrices at 1 and 2
    /// BLAS threads, with the kernel OpenBLAS chose.
    static func gemmPeak() {
        let n = 1024
        let a = [Float](repeating: 1, count: n * n), b = [Float](repeating: 0.5, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var cells: [String] = []
        for threads in [1, 2] {
            BLAS.threads = threads
            let seconds = medianSeconds(repeats: 5, warmUps: 2) {
                BLAS.gemm(.none, .none, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
            }
            cells.append(String(format: "%.0f GFLOP/s at %d thread%@", 2 * pow(Double(n), 3) / seconds / 1e9, threads, threads == 1 ? "" : "s"))
        }
        BLAS.threads = 1
        print("GEMM peak (OpenBLAS sgemm 1024^3, kernel \(BLAS.coreName)): " + cells.joined(separator: ", ") + "\n")
    }
}
