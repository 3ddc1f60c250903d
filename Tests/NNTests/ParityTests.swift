// PyTorch parity: the fixture written by scripts/make_parity_fixture.py holds PyTorch's outputs,
// gradients, one SGD step and double-backprop input gradients for three small models of models.py
// and three reduced-width torchvision-structured ones of zoo_models.py; every tensor here must
// match within 1e-4 of its largest magnitude.
import Foundation
import Checkpoints
import HDF5
import Losses
import NN
import Optimizers
import Tensor
import Testing

let parityFixture = Bundle.module.path(forResource: "parity", ofType: "h5", inDirectory: "Fixtures")!

/// The largest difference relative to the largest reference magnitude; prints it.
func relativeDifference(_ name: String, _ actual: [Float], _ expected: [Float]) -> Double {
    precondition(actual.count == expected.count, "\(name): \(actual.count) values, expected \(expected.count)")
    let scale = Double(expected.map { Swift.abs($0) }.max() ?? 0)
    let difference = zip(actual, expected).map { Double(Swift.abs($0 - $1)) }.max() ?? 0
    let relative = difference / Swift.max(scale, 1e-6)
    print("parity \(name): max |difference| \(difference), relative \(relative)")
    return relative
}

@Suite struct ParityTests {
    static let cases = [("resnet8", 3, 32), ("wrn_16_1", 3, 32), ("mnist_student", 1, 28)]

    func read(_ file: HDF5File, _ name: String) throws -> [Float] { try tensor(file, name).scalars }

    func tensor(_ file: HDF5File, _ name: String) throws -> Tensor { try Checkpoint.read(name, from: file) }

    /// The torchvision-structured models, each at the reduced width its group's attributes give.
    static let zooCases = ["resnet18", "resnet50", "mobilenetv2"]

    @Test(arguments: cases)
    func matchesPyTorch(arch: String, channels: Int, size: Int) throws {
        let file = try HDF5File.open(parityFixture)
        try expectParity(try Models.make(arch, classes: 10, inChannels: channels, imageSize: size, seed: 1), arch, file)
    }

    /// In float64, as the fixture computed them (make_parity_fixture.py: PyTorch's own float32 answers for some of
    /// these tensors are rounding noise); the float32 training-mode forward pass is compared as well.
    @Test(arguments: zooCases)
    func zooMatchesPyTorch(arch: String) throws {
        let file = try HDF5File.open(parityFixture)
        let single = try zooModel(arch, file)
        try load(single, arch, file)
        single.train()
        let output = single.forward(try tensor(file, "\(arch)/input"), upto: nil)
        #expect(relativeDifference("\(arch) float32 logits", output.logits!.scalars, try read(file, "\(arch)/logits")) < 1e-4)
        for (index, feature) in output.features.enumerated() {
            #expect(relativeDifference("\(arch) float32 features/\(index)", feature.scalars, try read(file, "\(arch)/features/\(index)")) < 1e-4)
        }
        try expectParity(try zooModel(arch, file), arch, file, dtype: .float64)
    }

    /// The reduced model the fixture's group `arch` holds: its attributes `width` (and `last_channels`), its input's size.
    func zooModel(_ arch: String, _ file: HDF5File) throws -> any Classifier {
        let group = try file.group(arch)
        let input = try tensor(file, "\(arch)/input").shape
        var generator = SeededGenerator(seed: 1)
        let width = try group.attribute("width")
        if let variant = TorchvisionResNet.Variant(rawValue: arch) {
            return TorchvisionResNet(variant, width: Int(try #require(width.intValue)), classes: 10, inChannels: input[1],
                                     imageSize: input[2], generator: &generator)
        }
        let lastChannels = Int(try #require(try group.attribute("last_channels").intValue))
        let multiplier: Double = try #require(width.doubleValue)
        return MobileNetV2(try #require(MobileNetV2.Variant(rawValue: arch)), width: multiplier, lastChannels: lastChannels,
                           classes: 10, inChannels: input[1], imageSize: input[2], generator: &generator)
    }

    /// Loads the fixture's initial state of `arch`, whose names must be exactly the model's.
    func load(_ model: any Classifier, _ arch: String, _ file: HDF5File) throws {
        #expect(Set(model.stateDict().map(\.name)) == Set(try file.group("\(arch)/state").childNames()), "\(arch): state_dict names")
        for (name, parameter) in model.stateDict() {
            parameter.assign(try tensor(file, "\(arch)/state/\(name)"))
        }
    }

    /// Loads the fixture's initial state of `arch` into `model` and compares every pass, computed in `dtype`, with PyTorch's.
    func expectParity(_ model: any Classifier, _ arch: String, _ file: HDF5File, dtype: DType = .float32) throws {
        try load(model, arch, file)
        model.convert(to: dtype)
        let input = try tensor(file, "\(arch)/input").converted(to: dtype)
        let labels = try file.dataset("\(arch)/labels", as: Int32.self).read().map(Int.init)
        let tolerance = 1e-4

        model.train()
        let output = model.forward(input, upto: nil)
        #expect(output.features.count == (try file.group("\(arch)/features").childNames().count))
        #expect(output.preActivations.count == (try file.group("\(arch)/pre").childNames().count))
        #expect(relativeDifference("\(arch) logits", output.logits!.scalars, try read(file, "\(arch)/logits")) < tolerance)
        for (index, feature) in output.features.enumerated() {
            #expect(relativeDifference("\(arch) features/\(index)", feature.scalars, try read(file, "\(arch)/features/\(index)")) < tolerance)
        }
        for (index, pre) in output.preActivations.enumerated() {
            #expect(relativeDifference("\(arch) pre/\(index)", pre.scalars, try read(file, "\(arch)/pre/\(index)")) < tolerance)
        }
        let loss = crossEntropy(logits: output.logits!, labels: labels)
        #expect(Swift.abs(loss.item - (try file.dataset("\(arch)/loss", as: Double.self).read()[0])) < 1e-5)

        loss.backward()
        for (name, parameter) in model.namedParameters() {
            #expect(relativeDifference("\(arch) grad \(name)", parameter.grad!.scalars, try read(file, "\(arch)/grad/\(name)")) < tolerance)
        }
        let optimizer = SGD(model.namedParameters(), learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4)
        optimizer.step()
        for (name, value) in model.stateDict() {
            #expect(relativeDifference("\(arch) after \(name)", value.scalars, try read(file, "\(arch)/after/\(name)")) < tolerance)
        }

        model.train(false)
        let x = input.copy()
        x.requiresGrad = true
        let evalLogits = model(x)
        #expect(relativeDifference("\(arch) eval logits", evalLogits.scalars, try read(file, "\(arch)/eval_logits")) < tolerance)
        let inputGrad = gradients(of: crossEntropy(logits: evalLogits, labels: labels), wrt: [x], createGraph: true)[0]
        #expect(relativeDifference("\(arch) input_grad", inputGrad.scalars, try read(file, "\(arch)/input_grad")) < tolerance)
        let inputGradGrad = gradients(of: inputGrad.pow(2).sum() * 0.5, wrt: [x])[0]
        #expect(relativeDifference("\(arch) input_grad_grad", inputGradGrad.scalars, try read(file, "\(arch)/input_grad_grad")) < 1e-3)
    }
}
