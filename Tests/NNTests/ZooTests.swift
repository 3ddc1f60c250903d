// The torchvision-structured models: full-size names, shapes, parameter and MAC counts against PyTorch's (recorded in
// the parity fixture's `full/` group by scripts/make_parity_fixture.py), the named layers and early stops, blocks and a
// whole model against finite differences in float64, and checkpoints round-tripping under torchvision's names.
import Checkpoints
import HDF5
import Losses
import NN
import Tensor
import Testing
import TestSupport

@Suite struct ZooTests {
    static let names = TorchvisionResNet.Variant.allCases.map(\.rawValue) + MobileNetV2.Variant.allCases.map(\.rawValue)

    /// Random float64 images.
    func images(_ shape: [Int], seed: UInt64 = 4) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor.randomNormal(shape, dtype: .float64, generator: &generator)
    }

    @Test(arguments: names)
    func fullSizeModelIsPyTorchs(arch: String) throws {
        let group = try HDF5File.open(parityFixture).group("full/\(arch)")
        let model = try Models.make(arch, classes: 10, inChannels: 3, imageSize: 32, seed: 1)
        #expect(model.arch == arch && Models.names.contains(arch))
        #expect(Int64(model.parameterCount) == (try group.attribute("parameters").intValue))
        #expect(Int64(model.macsPerImage) == (try group.attribute("macs").intValue))
        let state = model.stateDict().map { "\($0.name) \($0.tensor.shape)" }
        let expected = try #require(try group.attribute("state").stringsValue)
        #expect(state == expected, "first difference: \(zip(state, expected).first { $0 != $1 }.map { "\($0)" } ?? "count \(state.count) vs \(expected.count)")")
    }

    @Test func namedLayersStopEarlyAndHaveTheDocumentedShapes() throws {
        var generator = SeededGenerator(seed: 2)
        let resnet = TorchvisionResNet(.resnet50, width: 2, classes: 10, inChannels: 3, imageSize: 32, generator: &generator)
        resnet.train(false)
        let x = images([2, 3, 32, 32]).converted(to: .float32)
        let full = resnet.forward(x, upto: nil)
        #expect(full.features.map(\.shape) == [[2, 8, 32, 32], [2, 16, 16, 16], [2, 32, 8, 8], [2, 64, 4, 4]])
        #expect(full.preActivations.map(\.shape) == full.features.map(\.shape) && full.embedding?.shape == [2, 64])
        let partial = resnet.forward(x, upto: resnet.layerIndex("layer3"))
        #expect(partial.logits == nil && partial.features.count == 3)

        let mobile = try Models.make("mobilenetv2_half", classes: 10, inChannels: 3, imageSize: 32, seed: 1)
        mobile.train(false)
        #expect(mobile.layerNames == ["features.3", "features.6", "features.13", "features.17"] && mobile.preActivationNames == mobile.layerNames)
        let output = mobile.forward(x.sliced(axis: 0, 0..<1), upto: nil)
        #expect(output.features.map(\.shape) == [[1, 16, 32, 32], [1, 16, 16, 16], [1, 48, 8, 8], [1, 160, 4, 4]])
        #expect(output.embedding?.shape == [1, 1280] && output.logits?.shape == [1, 10])
        #expect(zip(output.features, output.preActivations).allSatisfy { $0 === $1 })
        #expect(mobile.forward(x.sliced(axis: 0, 0..<1), upto: 2).features.count == 2)
    }

    @Test func blocksToSecondOrder() {
        var generator = SeededGenerator(seed: 3)
        let bottleneck = Bottleneck(4, 2, stride: 2, generator: &generator)
        let expanding = InvertedResidual(4, 4, stride: 1, expansion: 3, generator: &generator)
        let plain = InvertedResidual(3, 5, stride: 2, expansion: 1, generator: &generator)
        let blocks: [(Module, [Int], ([Tensor]) -> Tensor)] = [
            (bottleneck, [2, 4, 5, 5], { bottleneck.forward($0[0]).output }),
            (expanding, [2, 4, 5, 5], { expanding($0[0]) }),
            (plain, [2, 3, 5, 5], { plain($0[0]) }),
        ]
        for (block, shape, function) in blocks {
            block.convert(to: .float64)
            let first = gradCheck([images(shape)], function)
            #expect(first.passed, "\(type(of: block)) first order \(first)")
            let second = gradGradCheck([images(shape)], function)
            #expect(second.passed, "\(type(of: block)) second order \(second)")
        }
    }

    @Test func doubleBackpropThroughADepthwiseModel() {
        // The gradient-AT penalty ||dL/dx||^2 differentiated by the stem's weights, through every depthwise convolution.
        var generator = SeededGenerator(seed: 5)
        let model = MobileNetV2(.mobilenetv2, width: 0.1, lastChannels: 8, classes: 3, inChannels: 1, imageSize: 8, generator: &generator)
        model.convert(to: .float64)
        let input = images([2, 1, 8, 8])
        let result = gradCheck(Array(model.parameters.prefix(3))) { _ in
            let x = input.copy()
            x.requiresGrad = true
            let inputGrad = gradients(of: crossEntropy(logits: model(x), labels: [1, 2]), wrt: [x], createGraph: true)[0]
            return inputGrad.pow(2).sum()
        }
        #expect(result.passed, "\(result)")
    }

    @Test func checkpointsRoundTripUnderTorchvisionNames() throws {
        let folder = TemporaryFolder()
        var generator = SeededGenerator(seed: 7)
        let cases: [(any Classifier, any Classifier, String, [Int])] = [
            (TorchvisionResNet(.resnet50, width: 2, classes: 10, inChannels: 3, imageSize: 32, generator: &generator),
             TorchvisionResNet(.resnet50, width: 2, classes: 10, inChannels: 3, imageSize: 32, generator: &generator),
             "layer2.0.downsample.0.weight", [16, 8, 1, 1]),
            (try Models.make("mobilenetv2_half", classes: 10, inChannels: 3, imageSize: 32, seed: 1),
             try Models.make("mobilenetv2_half", classes: 10, inChannels: 3, imageSize: 32, seed: 2),
             "features.2.conv.1.0.weight", [48, 1, 3, 3]),
        ]
        for (model, copy, name, shape) in cases {
            let path = folder.file("\(model.arch).h5")
            try Checkpoint.save(model, to: path)
            #expect(try HDF5File.open(path).info(name).shape == shape)
            try Checkpoint.load(path, into: copy)
            for (a, b) in zip(model.stateDict(), copy.stateDict()) { #expect(a.tensor.scalars == b.tensor.scalars, "\(a.name)") }
        }
    }
}
