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
        print("Batch \(batch), random data, median of 5 after 2 warm-ups, ms per call. OMP_WAIT_POLICY="
              + (ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)") + "\n")
        print(row(["layer", "pass", "threads"] + kernels.map { "\($0.rawValue) ms" } + ["reference / best oneDNN", "rule picks"]))
        print(row(["---", "---", "---:"] + kernels.map { _ in "---:" } + ["---:", "---"]))
        for (name, c, o, size, k, stride, padding) in layers {
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
                    let times = ComputeThreads.with(threads) {
                        kernels.map { kernel in ConvolutionKernel.with(kernel) { medianSeconds(repeats: 5, warmUps: 2, body) } * 1000 }
                    }
                    let picked = ConvolutionKernel.with(nil) { ConvolutionKernel.chosen(for: pass, input: x.shape, weight: w.shape, geometry: geometry) }
                    print(row([name, pass.rawValue, "\(threads)"] + times.map { String(format: "%.2f", $0) }
                              + [String(format: "%.2f", times[0] / min(times[1], times[2])), picked.rawValue]))
                }
            }
        }
    }

    /// Images/s of a training step (forward, cross-entropy, backward, SGD) with every convolution
    /// on the reference kernel and with the rule's choice.
    static func trainingSteps() throws {
        let batch = 128
        print("Batch \(batch), random data, median of 5 after 2 warm-ups. OMP_WAIT_POLICY="
              + (ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(unset)") + "\n")
        print(row(["model", "threads", "reference img/s", "rule img/s", "speed-up"]))
        print(row(["---", "---:", "---:", "---:", "---:"]))
        for (name, channels, size) in [("wrn_16_1", 3, 32), ("mnist_student", 1, 28), ("mnist_teacher", 1, 28)] {
            for threads in [1, 2] {
                let rates = try [ConvolutionKernel.reference, nil].map { kernel in
                    try ComputeThreads.with(threads) { try ConvolutionKernel.with(kernel) { try stepRate(name, channels, size, batch) } }
                }
                print(row([name, "\(threads)", String(format: "%.0f", rates[0]), String(format: "%.0f", rates[1]),
                           String(format: "%.2f", rates[1] / rates[0])]))
            }
        }
    }

    private static func stepRate(_ name: String, _ channels: Int, _ size: Int, _ batch: Int) throws -> Double {
        let model = try Models.make(name, classes: 10, inChannels: channels, imageSize: size, seed: 0)
        var generator = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal([batch, channels, size, size], generator: &generator)
        let labels = (0..<batch).map { $0 % 10 }
        model.train(true)
        let optimizer = SGD(model.namedParameters(), learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4)
        let step = medianSeconds(repeats: 5, warmUps: 2) {
            optimizer.zeroGrad()
            crossEntropy(logits: model(x), labels: labels).backward()
            optimizer.step()
        }
        return Double(batch) / step
    }
}
