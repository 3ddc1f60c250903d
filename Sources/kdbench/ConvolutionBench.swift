// The measurements behind the per-shape choice between oneDNN and im2col (`ConvolutionKernel`):
// each pass of the models' convolutions at batch 128 on every kernel, at 1 and 2 threads; then
// whole training steps with the reference kernel against the chosen ones.
import Foundation
import Losses
import NN
import Optimizers
import Parallel
import Tensor

enum ConvolutionBench {
    /// (name, input channels, output channels, size, kernel, stride, padding).
    static let layers: [(String, Int, Int, Int, Int, Int, Int)] = [
        ("wrn stem", 3, 16, 32, 3, 1, 1),
        ("wrn group1", 16, 16, 32, 3, 1, 1),
        ("wrn 16->32 s2", 16, 32, 32, 3, 2, 1),
        ("wrn 1x1 16->32 s2", 16, 32, 32, 1, 2, 0),
        ("wrn group2", 32, 32, 16, 3, 1, 1),
        ("wrn 32->64 s2", 32, 64, 16, 3, 2, 1),
        ("wrn 1x1 32->64 s2", 32, 64, 16, 1, 2, 0),
        ("wrn group3", 64, 64, 8, 3, 1, 1),
        ("64->64 32x32", 64, 64, 32, 3, 1, 1),
        ("mnist_student conv1", 1, 8, 28, 3, 1, 0),
        ("mnist_student conv2", 8, 16, 26, 3, 1, 0),
        ("mnist_teacher conv1", 1, 32, 28, 3, 1, 0),
        ("mnist_teacher conv2", 32, 64, 26, 3, 1, 0),
    ]

    static let kernels: [ConvolutionKernel] = [.reference, .oneDNNPlain, .oneDNNBlocked]

    /// Per layer, pass and thread count: milliseconds on each kernel, the fastest, and what the
    /// rule in `ConvolutionKernel.measured` picks.
    static func run() throws {
        let batch = 128
        print("Batch \(batch), random data, ms per call: the fastest of 7 rounds (each round runs every kernel once, so load"
              + " changes hit all alike) after 2 warm-ups. OMP_WAIT_POLICY="
              + (ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)") + "\n")
        print(row(["layer", "pass", "threads"] + kernels.map { "\($0.rawValue) ms" } + ["reference / best oneDNN", "rule picks"]))
        print(row(["---", "---", "---:"] + kernels.map { _ in "---:" } + ["---:", "---"]))
        // KDBENCH_LAYERS=stem,mnist: only the layers whose names contain one of the words.
        let only = ProcessInfo.processInfo.environment["KDBENCH_LAYERS"].map { $0.split(separator: ",").map(String.init) }
        for (name, c, o, size, k, stride, padding) in layers where only?.contains(where: name.contains) ?? true {
            var generator = SeededGenerator(seed: 1)
            let geometry = ConvolutionGeometry(stride: stride, padding: padding)
            let x = Tensor.randomNormal([batch, c, size, size], generator: &generator)
            let w = Tensor.randomNormal([o, c, k, k], generator: &generator)
            let y = Tensor.convolution(x, w, geometry: geometry)
            let g = Tensor.randomNormal(y.shape, generator: &generator)
            let passes: [(ConvolutionPassKind, () -> Void)] = [
                (.forward, { _ = Tensor.convolution(x, w, geometry: geometry) }),
                (.inputGradient, { _ = Tensor.convolutionInputGradient(g, w, inputShape: x.shape, geometry: geometry) }),
                (.weightGradient, { _ = Tensor.convolutionWeightGradient(x, g, weightShape: w.shape, geometry: geometry) }),
            ]
            for (pass, body) in passes {
                for threads in [1, 2] {
                    let times = ComputeThreads.with(threads) { fastestMilliseconds(kernels, body) }
                    let picked = ConvolutionKernel.with(nil) { ConvolutionKernel.chosen(for: pass, input: x.shape, weight: w.shape, geometry: geometry) }
                    print(row([name, pass.rawValue, "\(threads)"] + times.map { String(format: "%.2f", $0) }
                              + [String(format: "%.2f", times[0] / min(times[1], times[2])), picked.rawValue]))
                }
            }
        }
    }

    /// The fastest time in ms of `body` on each kernel over 7 interleaved rounds, after 2 warm-ups each.
    private static func fastestMilliseconds(_ kernels: [ConvolutionKernel?], _ body: () -> Void) -> [Double] {
        for kernel in kernels { ConvolutionKernel.with(kernel) { body(); body() } }
        var best = [Double](repeating: .infinity, count: kernels.count)
        for _ in 0..<7 {
            for (index, kernel) in kernels.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                ConvolutionKernel.with(kernel, body)
                best[index] = Swift.min(best[index], Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
        }
        return best
    }

    /// Images/s of a training step (forward, cross-entropy, backward, SGD) with every convolution
    /// on the reference kernel and with the rule's choice.
    static func trainingSteps() throws {
        let batch = 128
        print("Batch \(batch), random data, the fastest of 7 interleaved rounds after 2 warm-ups. OMP_WAIT_POLICY="
              + (ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)") + "\n")
        print(row(["model", "threads", "reference img/s", "rule img/s", "speed-up"]))
        print(row(["---", "---:", "---:", "---:", "---:"]))
        let only = ProcessInfo.processInfo.environment["KDBENCH_MODELS"].map { Set($0.split(separator: ",").map(String.init)) }
        for (name, channels, size) in [("wrn_16_1", 3, 32), ("mnist_student", 1, 28), ("mnist_teacher", 1, 28)] where only?.contains(name) ?? true {
            for threads in [1, 2] {
                let model = try Models.make(name, classes: 10, inChannels: channels, imageSize: size, seed: 0)
                var generator = SeededGenerator(seed: 1)
                let x = Tensor.randomNormal([batch, channels, size, size], generator: &generator)
                let labels = (0..<batch).map { $0 % 10 }
                model.train(true)
                let optimizer = SGD(model.namedParameters(), learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
                let times = ComputeThreads.with(threads) {
                    fastestMilliseconds([.reference, nil]) {
                        optimizer.zeroGrad()
                        crossEntropy(logits: model(x), labels: labels).backward()
                        optimizer.step()
                    }
                }
                let rates = times.map { Double(batch) / $0 * 1000 }
                print(row([name, "\(threads)", String(format: "%.0f", rates[0]), String(format: "%.0f", rates[1]),
                           String(format: "%.2f", rates[1] / rates[0])]))
            }
        }
    }
}
