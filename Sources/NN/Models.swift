// The model zoo by name: the MODELS table of ../shared/reference/pytorch/models.py, then torchvision's
// resnet18, resnet50 and mobilenet_v2 for small images (scripts/zoo_models.py).
import Tensor

/// A model name that is not in the zoo.
public struct UnknownModelError: Error, CustomStringConvertible {
    /// The name asked for.
    public let name: String
    public var description: String { "unknown model '\(name)'; known: \(Models.names.joined(separator: ", "))" }
}

/// Builds the literature's models by their models.py names.
public enum Models {
    /// Every name `make` accepts: models.py's in its order, then the torchvision-structured ones.
    public static let names = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                               "resnet8x4", "resnet32x4", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2",
                               "mnist_teacher", "mnist_student"]
        + TorchvisionResNet.Variant.allCases.map(\.rawValue) + MobileNetV2.Variant.allCases.map(\.rawValue)

    /// A freshly initialised model (PyTorch's default initialisation, from `seed`).
    public static func make(_ name: String, classes: Int, inChannels: Int, imageSize: Int, seed: UInt64) throws -> any Classifier {
        var generator = SeededGenerator(seed: seed)
        if let variant = TorchvisionResNet.Variant(rawValue: name) {
            return TorchvisionResNet(variant, classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        }
        if let variant = MobileNetV2.Variant(rawValue: name) {
            return MobileNetV2(variant, classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        }
        switch name {
        case "resnet8x4":
            return ResNet(arch: name, depth: 8, filters: [32, 64, 128, 256], classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        case "resnet32x4":
            return ResNet(arch: name, depth: 32, filters: [32, 64, 128, 256], classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        case "mnist_teacher":
            return MnistNet(arch: name, channels1: 32, channels2: 64, hidden: 128, classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        case "mnist_student":
            return MnistNet(arch: name, channels1: 8, channels2: 16, hidden: 32, classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
        default:
            if name.hasPrefix("resnet"), let depth = Int(name.dropFirst(6)), names.contains(name) {
                return ResNet(arch: name, depth: depth, filters: [16, 16, 32, 64], classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
            }
            let parts = name.split(separator: "_")
            if parts.count == 3, parts[0] == "wrn", let depth = Int(parts[1]), let widen = Int(parts[2]), names.contains(name) {
                return WideResNet(arch: name, depth: depth, widen: widen, classes: classes, inChannels: inChannels, imageSize: imageSize, generator: &generator)
            }
            throw UnknownModelError(name: name)
        }
    }
}
