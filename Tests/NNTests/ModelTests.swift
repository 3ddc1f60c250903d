// Models in float64 against finite differences, the training loop really learning, the optimiser
// and schedules against hand-computed values, and checkpoints round-tripping.
import Checkpoints
import Foundation
import HDF5
import Losses
import NN
import Optimizers
import Tensor
import Testing
import TestSupport

@Suite struct ModelTests {
    /// Random float64 images.
    func images(_ shape: [Int], seed: UInt64 = 4) -> Tensor {
        var generator = SeededGenerator(seed: seed)
        return Tensor.randomNormal(shape, dtype: .float64, generator: &generator)
    }

    @Test func residualBlockGradients() {
        var generator = SeededGenerator(seed: 1)
        let block = BasicBlock(2, 3, stride: 2, generator: &generator)
        block.convert(to: .float64)
        let check = { (values: [Tensor]) -> Tensor in block.forward(values[0]).output }
        #expect(gradCheck([images([2, 2, 5, 5])], check).passed)
        #expect(gradGradCheck([images([2, 2, 5, 5])], check).passed)
    }

    @Test(arguments: [false, true])
    func foldedBatchNormMatchesTheLayers(relu: Bool) {
        // Evaluation folds the batch norm into the convolution; in float64 the folding is exact to
        // rounding, so a wrong scale, shift or channel order shows far above the tolerance.
        var generator = SeededGenerator(seed: 6)
        let conv = Conv2d(3, 5, kernel: 3, stride: 2, padding: 1, bias: true, generator: &generator)
        let bn = BatchNorm(5, eps: 1e-3)
        for (tensor, low) in [(bn.weight, -2.0), (bn.bias, -1), (bn.runningMean, -1), (bn.runningVariance, 0.1)] {
            tensor.assign(Tensor.randomUniform([5], low: low, high: 2, generator: &generator))
        }
        conv.convert(to: .float64)
        bn.convert(to: .float64)
        bn.train(false)
        let x = images([2, 3, 7, 7])
        let folded = GradMode.withoutGrad { conv(x, then: bn, relu: relu) }
        let layers = relu ? bn(conv(x)).relu() : bn(conv(x))
        #expect(folded.shape == layers.shape)
        let difference = zip(folded.doubles, layers.doubles).map { Swift.abs($0 - $1) }.max()!
        #expect(difference < 1e-12, "largest difference \(difference)")
    }

    @Test func wholeModelGradientsWithRespectToWeightsAndInput() throws {
        let model = try Models.make("resnet8", classes: 3, inChannels: 1, imageSize: 6, seed: 2)
        model.convert(to: .float64)
        let weights = Array(model.parameters.prefix(3))
        let input = images([2, 1, 6, 6])
        let first = gradCheck([input] + weights) { values in crossEntropy(logits: model(values[0]), labels: [1, 2]) }
        #expect(first.passed, "\(first)")
        // The double-backprop penalty of gradient-based attention transfer: ||dL/dx||^2, differentiated by the weights.
        let second = gradCheck(weights) { _ in
            let x = input.copy()
            x.requiresGrad = true
            let inputGrad = gradients(of: crossEntropy(logits: model(x), labels: [1, 2]), wrt: [x], createGraph: true)[0]
            return inputGrad.pow(2).sum()
        }
        #expect(second.passed, "\(second)")
    }

    @Test func wideResNetAndMnistNetGradients() throws {
        let wide = try Models.make("wrn_16_1", classes: 2, inChannels: 1, imageSize: 4, seed: 3)
        wide.convert(to: .float64)
        #expect(gradCheck([images([2, 1, 4, 4])]) { wide($0[0]) }.passed)
        let small = try Models.make("mnist_student", classes: 2, inChannels: 1, imageSize: 8, seed: 3)
        small.convert(to: .float64)
        let result = gradGradCheck([images([2, 1, 8, 8])]) { small($0[0]).pow(2) }
        #expect(result.passed, "\(result)")
    }

    @Test func layersStopEarlyAndHaveTheDocumentedShapes() throws {
        let model = try Models.make("resnet8x4", classes: 10, inChannels: 3, imageSize: 32, seed: 1)
        model.train(false)
        let x = Tensor.zeros([2, 3, 32, 32])
        let full = model.forward(x, upto: nil)
        #expect(full.features.map(\.shape) == [[2, 64, 32, 32], [2, 128, 16, 16], [2, 256, 8, 8]])
        let partial = model.forward(x, upto: model.layerIndex("layer2"))
        #expect(partial.logits == nil && partial.features.count == 2)
        // Counts from PyTorch (kd_bench.py's nparams and count_macs on models.py).
        #expect(model.parameterCount == 1_210_410)
        #expect(model.macsPerImage == 177_048_064)
        let teacher = try Models.make("mnist_teacher", classes: 10, inChannels: 1, imageSize: 28, seed: 1)
        #expect(teacher.macsPerImage == 11_992_448)
        #expect(teacher.parameterCount == 1_199_882)
        #expect(try Models.make("wrn_16_1", classes: 10, inChannels: 3, imageSize: 32, seed: 1).macsPerImage == 26_657_408)
        #expect(throws: UnknownModelError.self) { _ = try Models.make("vgg16", classes: 10, inChannels: 3, imageSize: 32, seed: 1) }
    }

    @Test func tinyModelLearnsFixedImages() throws {
        let model = try Models.make("mnist_student", classes: 4, inChannels: 1, imageSize: 12, seed: 5)
        var generator = SeededGenerator(seed: 6)
        let x = Tensor.randomNormal([8, 1, 12, 12], generator: &generator)
        let labels = [0, 1, 2, 3, 0, 1, 2, 3]
        let optimizer = SGD(model.namedParameters(), learningRate: 0.05, momentum: 0.9)
        var losses: [Double] = []
        for _ in 0..<150 {
            optimizer.zeroGrad()
            let loss = crossEntropy(logits: model(x), labels: labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item)
        }
        #expect(losses[0] > 1)
        #expect(losses.last! < 0.01, "loss went from \(losses[0]) to \(losses.last!)")
    }

    @Test func sgdMatchesHandComputation() {
        let p = Tensor(shape: [2], scalars: [1, -2], requiresGrad: true)
        let optimizer = SGD([("p", p)], learningRate: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0.01)
        p.grad = Tensor(shape: [2], scalars: [0.5, 0.5])
        optimizer.step()
        // d = g + 0.01 p = [0.51, 0.48]; v = d; p -= 0.1 v
        #expect(zip(p.scalars, [0.949, -2.048]).allSatisfy { Swift.abs($0 - Float($1)) < 1e-6 })
        optimizer.step()
        // d = [0.5 + 0.00949, 0.5 - 0.02048]; v = 0.9 v + d
        let v: [Double] = [0.9 * 0.51 + 0.50949, 0.9 * 0.48 + 0.47952]
        #expect(zip(p.scalars, [0.949 - 0.1 * v[0], -2.048 - 0.1 * v[1]]).allSatisfy { Swift.abs(Double($0) - $1) < 1e-6 })

        let q = Tensor(shape: [1], scalars: [1], requiresGrad: true)
        let nesterov = SGD([("bn.bias", q)], learningRate: 1, momentum: 0.5, nesterov: true, weightDecay: 0.1, decayNormsAndBiases: false)
        q.grad = Tensor(shape: [1], scalars: [2])
        nesterov.step()
        // no decay on rank-1 parameters: v = 2; step = g + mu v = 3
        #expect(q.scalars == [-2])
    }

    @Test func gradientClipping() {
        let a = Tensor(shape: [2], scalars: [0, 0], requiresGrad: true), b = Tensor(shape: [1], scalars: [0], requiresGrad: true)
        a.grad = Tensor(shape: [2], scalars: [3, 0])
        b.grad = Tensor(shape: [1], scalars: [4])
        #expect(clipGradientNorm([a, b], maxNorm: 1) == 5)
        #expect(Swift.abs(a.grad!.scalars[0] - 0.6) < 1e-5 && Swift.abs(b.grad!.scalars[0] - 0.8) < 1e-5)
    }

    @Test func schedules() {
        #expect(Schedule.cosine.rate(base: 0.1, iteration: 0, total: 100, iterationsPerEpoch: 10) == 0.1)
        #expect(Swift.abs(Schedule.cosine.rate(base: 0.1, iteration: 50, total: 100, iterationsPerEpoch: 10) - 0.05) < 1e-12)
        let steps = Schedule.multiStep(milestones: [2, 4], gamma: 0.1)
        #expect(steps.rate(base: 1, iteration: 19, total: 100, iterationsPerEpoch: 10) == 1)
        #expect(Swift.abs(steps.rate(base: 1, iteration: 45, total: 100, iterationsPerEpoch: 10) - 0.01) < 1e-12)
        #expect(Schedule.constant.rate(base: 1, iteration: 1, total: 100, iterationsPerEpoch: 10, warmupIterations: 4) == 0.5)
    }

    @Test func checkpointRoundTripAndMismatches() throws {
        let folder = TemporaryFolder()
        let model = try Models.make("wrn_16_1", classes: 10, inChannels: 3, imageSize: 32, seed: 7)
        let path = folder.file("teacher/best.h5")
        let momentum = model.parameters.map { Tensor(repeating: 0.5, shape: $0.shape) }
        try Checkpoint.save(model, to: path, attributes: ["epoch": .int(3)], momentum: momentum)
        let copy = try Models.make("wrn_16_1", classes: 10, inChannels: 3, imageSize: 32, seed: 8)
        let attributes = try Checkpoint.load(path, into: copy)
        #expect(attributes["epoch"] == .int(3) && attributes["arch"] == .string("wrn_16_1"))
        for (a, b) in zip(model.stateDict(), copy.stateDict()) { #expect(a.tensor.scalars == b.tensor.scalars, "\(a.name)") }
        #expect(try Checkpoint.momentum(path, for: copy)?.first?.scalars.first == 0.5)
        #expect(try HDF5File.open(path).info("block1.layer.0.conv1.weight").shape == [16, 16, 3, 3])

        let other = try Models.make("wrn_16_2", classes: 10, inChannels: 3, imageSize: 32, seed: 1)
        let wrongArch = #expect(throws: CheckpointError.self) { try Checkpoint.load(path, into: other) }
        #expect(wrongArch?.message.contains("holds a wrn_16_1, not a wrn_16_2") == true)
        let fewerClasses = try Models.make("wrn_16_1", classes: 5, inChannels: 3, imageSize: 32, seed: 1)
        let wrongShape = #expect(throws: CheckpointError.self) { try Checkpoint.load(path, into: fewerClasses) }
        #expect(wrongShape?.message.contains("'fc.weight' has shape [10, 64]") == true)
    }
}
