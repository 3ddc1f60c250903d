// A paper estimate of precomputing ImageNet-1k with 4 views on 64 nodes, from costs measured
// here. torchvision's ResNet-50 on 224x224 does 4.09 GMACs, all but its stem (0.12) on 56x56
// feature maps from layer1 on; the zoo's `resnet50` (the same blocks, a 3x3 stride-1 stem) on
// 56x56 inputs does that same work, so its measured time per image, scaled by the MAC ratio,
// stands for an ImageNet image. Measured: the evaluation forward pass (logits, features, maps and
// boundaries come from it) and forward plus backward to the input (the `input_grad` group).
import Foundation
import Losses
import NN
import Parallel
import Pipeline
import Tensor

enum ImageNetEstimate {
    static let images = 1_281_167, views = 4, nodes = 64
    /// torchvision's ResNet-50 at 224x224, multiply-accumulates per image.
    static let resnet50MACs = 4.09e9

    static func run() throws {
        let batch = 16, threads = ComputeThreads.count
        let model = try Models.make("resnet50", classes: 1000, inChannels: 3, imageSize: 56, seed: 0)
        model.train(false)
        var generator = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal([batch, 3, 56, 56], generator: &generator)
        let forward = medianSeconds(repeats: 3, warmUps: 1) { GradMode.withoutGrad { _ = model(x) } } / Double(batch)
        let withGradient = medianSeconds(repeats: 3, warmUps: 1) {
            let input = x.detached
            input.requiresGrad = true
            let logits = model(input)
            _ = gradients(of: crossEntropy(logits: logits, labels: argmaxRows(logits.detached)) * Double(batch), wrt: [input])
        } / Double(batch)
        let scale = resnet50MACs / Double(model.macsPerImage)
        print("""
            Measured: zoo resnet50 on 56x56 (\(String(format: "%.2f", Double(model.macsPerImage) / 1e9)) GMACs), batch \(batch), \
            \(threads) threads, evaluation mode: forward \(String(format: "%.3f", forward)) s/image \
            (\(String(format: "%.1f", 2 * Double(model.macsPerImage) / forward / 1e9)) GFLOP/s), forward + input gradient \
            \(String(format: "%.3f", withGradient)) s/image. Scaled by \(String(format: "%.3f", scale)) to torchvision's 4.09 GMACs.

            """)
        let rows = Double(images * views)
        print(row(["cache groups", "node-seconds per row", "one node (this host)", "64 nodes like it", "64 nodes x 64 cores (linear)"]))
        print(row(["---", "---:", "---:", "---:", "---:"]))
        for (name, seconds) in [("forward groups only", forward * scale), ("with input_grad", withGradient * scale)] {
            let total = seconds * rows
            print(row([name, String(format: "%.3f", seconds), days(total), days(total / Double(nodes)),
                       days(total / Double(nodes) / (64 / Double(threads)))]))
        }
        print("\nBytes per row (image x view) of a ResNet-50 teacher's cache, the layers FitNet/AT/AB use:\n")
        print(row(["group", "shape per row", "type", "bytes/row", "ImageNet x 4 views"]))
        print(row(["---", "---", "---", "---:", "---:"]))
        let groups: [(String, String, String, Int)] = [
            ("logits", "[1000]", "float32", 1000 * 4),
            ("logits_topk (top_k: 5)", "[5] + [5] + [1]", "float32, uint16, float32", 5 * 4 + 5 * 2 + 4),
            ("attention/layer1..4", "56^2 + 28^2 + 14^2 + 7^2", "float32", (56 * 56 + 28 * 28 + 14 * 14 + 7 * 7) * 4),
            ("boundary/layer4 (pre-activations)", "[2048, 7, 7] bits", "uint8", 2048 * 7 * 7 / 8),
            ("embedding", "[2048]", "float32", 2048 * 4),
            ("features/layer3 (FitNet hint)", "[1024, 14, 14]", "float16", 1024 * 14 * 14 * 2),
            ("input_grad + scale", "[3, 224, 224] + [1]", "float16, float32", 3 * 224 * 224 * 2 + 4),
        ]
        for (name, shape, type, bytes) in groups {
            print(row([name, shape, type, "\(bytes)", formatBytes(Double(bytes) * rows)]))
        }
        let all = groups.filter { !$0.0.hasPrefix("logits_topk") }.reduce(0) { $0 + $1.3 }
        let small = groups.filter { !$0.0.hasPrefix("features") && !$0.0.hasPrefix("input_grad") && !$0.0.hasPrefix("logits_topk") }.reduce(0) { $0 + $1.3 }
        print(row(["every group but top-k", "", "", "\(all)", formatBytes(Double(all) * rows)]))
        print(row(["without hint features and input gradients", "", "", "\(small)", formatBytes(Double(small) * rows)]))
    }

    private static func days(_ seconds: Double) -> String {
        seconds >= 86_400 ? String(format: "%.1f days", seconds / 86_400)
            : seconds >= 3600 ? String(format: "%.1f h", seconds / 3600) : String(format: "%.0f min", seconds / 60)
    }

    private static func formatBytes(_ bytes: Double) -> String {
        bytes >= 1e12 ? String(format: "%.2f TB", bytes / 1e12) : String(format: "%.1f GB", bytes / 1e9)
    }
}
