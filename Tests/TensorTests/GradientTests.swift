// Every differentiable op against central finite differences, to first and second order.
import Testing
import Tensor

/// Random float64 inputs of `shapes`; `map` moves values away from kinks or into a domain.
func randomInputs(_ shapes: [[Int]], seed: UInt64 = 1, map: (Double) -> Double = { $0 }) -> [Tensor] {
    var generator = SeededGenerator(seed: seed)
    return shapes.map { shape in
        let values = (0..<shape.reduce(1, *)).map { _ in map(generator.nextNormal()) }
        return Tensor(shape: shape, doubles: values)
    }
}

/// Away from zero by at least 0.2, so kinks at 0 are never crossed by the finite differences.
func awayFromZero(_ x: Double) -> Double { x >= 0 ? x + 0.2 : x - 0.2 }

/// Checks first and second derivatives of `function` at random inputs of `shapes`.
func expectDerivatives(_ shapes: [[Int]], seed: UInt64 = 1, map: (Double) -> Double = { $0 }, rtol: Double = 1e-3,
                       sourceLocation: SourceLocation = #_sourceLocation, _ function: @escaping ([Tensor]) -> Tensor) {
    let first = gradCheck(randomInputs(shapes, seed: seed, map: map), rtol: rtol, function)
    #expect(first.passed, "first order \(first)", sourceLocation: sourceLocation)
    let second = gradGradCheck(randomInputs(shapes, seed: seed, map: map), rtol: rtol, function)
    #expect(second.passed, "second order \(second)", sourceLocation: sourceLocation)
}

@Suite struct GradientTests {
    @Test func checkerRejectsAWrongDerivative() {
        // x.detached * x claims a derivative of x; the truth is 2x.
        let result = gradCheck(randomInputs([[5]], map: awayFromZero)) { $0[0].detached * $0[0] }
        #expect(!result.passed)
        let second = gradGradCheck(randomInputs([[5]], map: awayFromZero)) { ($0[0] * $0[0]).detached * $0[0] }
        #expect(!second.passed)
    }

    @Test func arithmeticWithBroadcasting() {
        expectDerivatives([[2, 3, 4], [3, 1]]) { $0[0] + $0[1] }
        expectDerivatives([[2, 3, 4], [4]]) { $0[0] - $0[1] }
        expectDerivatives([[2, 1, 4], [3, 1]]) { $0[0] * $0[1] }
        expectDerivatives([[2, 3], [2, 3]], map: awayFromZero) { $0[0] / $0[1] }
        expectDerivatives([[3], [2, 3]], map: awayFromZero) { $0[0] / $0[1] }
        expectDerivatives([[4]]) { -$0[0] * 3 + 2 }
        expectDerivatives([[2, 2]], map: awayFromZero) { 1 / $0[0] - 0.5 }
    }

    @Test func unaryFunctions() {
        expectDerivatives([[7]]) { $0[0].exp() }
        expectDerivatives([[7]], map: { Swift.abs($0) + 0.5 }) { $0[0].log() }
        expectDerivatives([[7]], map: { Swift.abs($0) + 0.5 }) { $0[0].sqrt() }
        expectDerivatives([[7]], map: { Swift.abs($0) + 0.5 }) { $0[0].pow(1.7) }
        expectDerivatives([[7]]) { $0[0].pow(2) }
        expectDerivatives([[7]], map: { Swift.abs($0) + 0.5 }) { $0[0].pow(-0.5) }
        expectDerivatives([[9]], map: awayFromZero) { $0[0].abs() }
        expectDerivatives([[9]], map: awayFromZero) { $0[0].relu() * $0[0] }
        expectDerivatives([[9]], map: awayFromZero) { $0[0].clamped(min: -0.1, max: 0.1) + $0[0].clamped(min: 0.05) }
        // Values on both sides of both kinks (0 and 6), none near one.
        let sides = { [Tensor(shape: [7], doubles: [-2, -0.5, 0.7, 3, 5.5, 6.8, 9])] }
        let relu6 = { (x: [Tensor]) in x[0].relu6() * x[0] }
        #expect(gradCheck(sides(), relu6).passed)
        #expect(gradGradCheck(sides(), relu6).passed)
    }

    @Test func relu6IsPyTorchsAtTheKinks() {
        // PyTorch's ReLU6 (hardtanh) passes no gradient at exactly 0 and 6, unlike clamp.
        let x = Tensor(shape: [6], doubles: [-1, 0, 3, 6, 7, 5.5])
        x.requiresGrad = true
        let y = x.relu6()
        #expect(y.doubles == [0, 0, 3, 6, 6, 5.5])
        #expect(gradients(of: y.sum(), wrt: [x])[0].doubles == [0, 0, 1, 0, 0, 1])
    }

    @Test func noiseContrastBothWaysAndAgainstItsDefinition() {
        let k = NoiseContrast(temperature: 0.5, normalizer: 3, noise: 0.2)
        expectDerivatives([[3, 7]]) { Tensor.noiseContrast($0[0], k) * $0[0] }
        let s = randomInputs([[3, 7]], seed: 5)[0]
        let direct = (0.2 / ((s / 0.5).exp() / 3 + (0.2 + 1e-7))).log()
        #expect(zip(Tensor.noiseContrast(s, k).doubles, direct.doubles).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
    }

    @Test func rowsCopiedAreTheRows() {
        let m = Tensor(shape: [3, 2], doubles: [1, 2, 3, 4, 5, 6])
        #expect(m.rowsCopied([2, 0, 2]).doubles == [5, 6, 1, 2, 5, 6])
        #expect(m.converted(to: .float32).rowsCopied([1]).doubles == [3, 4])
    }

    @Test func marginSquaresBothWaysAndAgainstItsDefinition() {
        // Values inside the margin (both sides penalised) and beyond it, none near the kinks at +-0.5.
        let spread = { (v: Double) in v >= 0 ? 0.05 + v.truncatingRemainder(dividingBy: 0.4) : -0.7 + v }
        let mask = randomInputs([[3, 4, 5]], seed: 9)[0].greater(than: 0)
        expectDerivatives([[3, 4, 5]], map: spread) { Tensor.marginSquares($0[0], mask: mask, margin: 0.5) * $0[0] }
        let s = randomInputs([[3, 4, 5]], seed: 2)[0]
        let composite = mask * (0.5 - s).relu().pow(2) + (1 - mask) * (0.5 + s).relu().pow(2)
        #expect(Tensor.marginSquares(s, mask: mask, margin: 0.5).doubles == composite.doubles)
        let agreeing = zip(s.doubles, mask.doubles).filter { ($0 > 0) == ($1 > 0) }.count
        #expect(Tensor.signAgreements(s, mask: mask) == agreeing && agreeing > 0 && agreeing < s.count)
    }

    @Test func channelPowerSumsBothWaysAndAgainstTheComposite() {
        expectDerivatives([[2, 3, 4, 5]]) { $0[0].channelPowerSum(2) }
        expectDerivatives([[2, 3, 4]], map: awayFromZero) { $0[0].channelPowerSum(3) * $0[0].sum(axes: [1]) }
        let x = randomInputs([[2, 3, 4, 5]], seed: 5)[0]
        for p in [1.0, 2, 3] {
            let composite = x.abs().pow(p).sum(axes: [1])
            #expect(zip(x.channelPowerSum(p).doubles, composite.doubles).allSatisfy { Swift.abs($0 - $1) <= 1e-12 * Swift.max(1, Swift.abs($1)) })
        }
    }

    @Test func squaredDistancesBothWaysAndAgainstTheComposite() {
        expectDerivatives([[2, 3, 4], [2, 3, 4]]) { Tensor.squaredDistance($0[0], $0[1]) }
        expectDerivatives([[3, 5], [3, 5]]) { Tensor.squaredDistance($0[0], $0[1]) * $0[0].sum() }
        let target = randomInputs([[3, 5]], seed: 4)[0]
        expectDerivatives([[3, 5]]) { Tensor.squaredDistance(target, $0[0]) * $0[0].sum() }
        // Past the parallel threshold, in float32, against the float64 composite of the same values,
        // within float32's bound for sums of non-negative terms: gamma_K with K = 512 terms per
        // accumulator, 3 more for their tree and 2 for the difference and its square.
        let pair = randomInputs([[4, 64, 12, 12], [4, 64, 12, 12]], seed: 3).map { $0.converted(to: .float32) }
        let exact = (pair[0].converted(to: .float64) - pair[1].converted(to: .float64)).pow(2).sum().doubles[0]
        let single = Tensor.squaredDistance(pair[0], pair[1])
        let (u, k) = (0x1p-24, 517.0)
        #expect(single.dtype == .float32 && Swift.abs(single.doubles[0] - exact) <= k * u / (1 - k * u) * exact,
                "\(single.doubles[0]) against \(exact)")
    }

    @Test func l2NormalisationAlongEveryAxisAgainstTheComposite() {
        // First and second order along the last, a middle and the first axis (lines with a stride).
        expectDerivatives([[3, 4]]) { $0[0].l2Normalized(axis: 1) * $0[0] }
        expectDerivatives([[2, 3, 4]]) { $0[0].l2Normalized(axis: 1).pow(3) }
        expectDerivatives([[3, 2]]) { $0[0].l2Normalized(axis: 0) * $0[0].sum() }
        // Float32 past the parallel threshold against the float64 composite of the same values.
        let x = randomInputs([[64, 700]], seed: 7)[0].converted(to: .float32)
        let upstream = randomInputs([[64, 700]], seed: 8)[0]
        let wide = x.converted(to: .float64)
        wide.requiresGrad = true
        let composite = wide / wide.pow(2).sum(axes: [1], keepDims: true).sqrt().clamped(min: 1e-12)
        (composite * upstream).sum().backward()
        let single = x
        single.requiresGrad = true
        let fused = single.l2Normalized(axis: 1)
        (fused * upstream.converted(to: .float32)).sum().backward()
        #expect(zip(fused.doubles, composite.doubles).allSatisfy { Swift.abs($0 - $1) <= 1e-6 * Swift.max(1, Swift.abs($1)) })
        #expect(zip(single.grad!.doubles, wide.grad!.doubles).allSatisfy { Swift.abs($0 - $1) <= 1e-5 * Swift.max(1, Swift.abs($1)) })
    }

    @Test func aClampedNormIsAConstantAsInPyTorch() {
        // PyTorch's F.normalize: where the norm is below eps the divisor is eps, a constant, so the
        // gradient is g / eps; a zero line gives zeros, and g / eps too (the composite's square
        // root would give 0 / 0 there). The second line is unclamped.
        let x = Tensor(shape: [3, 3], doubles: [0, 0, 0, 1, 2, 2, 3e-4, 4e-4, 0])
        x.requiresGrad = true
        let y = x.l2Normalized(axis: 1, eps: 1e-3)
        let expected = [0, 0, 0, 1.0 / 3, 2.0 / 3, 2.0 / 3, 0.3, 0.4, 0]
        #expect(zip(y.doubles, expected).allSatisfy { Swift.abs($0 - $1) <= 1e-15 }, "\(y.doubles)")
        (y * Tensor(shape: [3, 3], doubles: [1, -2, 3, 0, 0, 0, 1, 1, 1])).sum().backward()
        let gradient = x.grad!.doubles
        let clamped = [1000.0, -2000, 3000, 0, 0, 0, 1000, 1000, 1000]
        #expect(zip(gradient, clamped).allSatisfy { Swift.abs($0 - $1) <= 1e-9 }, "\(gradient)")
        // Differentiated twice (the recorded backward), the same values, and finite second derivatives.
        let z = Tensor(shape: [3, 3], doubles: [0, 0, 0, 1, 2, 2, 3e-4, 4e-4, 0])
        z.requiresGrad = true
        let upstream = Tensor(shape: [3, 3], doubles: [1, -2, 3, 0, 0, 0, 1, 1, 1])
        let first = gradients(of: (z.l2Normalized(axis: 1, eps: 1e-3) * upstream).sum(), wrt: [z], createGraph: true)[0]
        #expect(zip(first.doubles, clamped).allSatisfy { Swift.abs($0 - $1) <= 1e-9 }, "\(first.doubles)")
        let second = gradients(of: (first * first).sum(), wrt: [z])[0]
        #expect(second.doubles.allSatisfy { $0.isFinite }, "\(second.doubles)")
    }

    @Test func reductions() {
        expectDerivatives([[2, 3, 4]]) { $0[0].sum(axes: [1]) }
        expectDerivatives([[2, 3, 4]]) { $0[0].sum(axes: [0, 2], keepDims: true) * $0[0] }
        expectDerivatives([[2, 3, 4]]) { $0[0].sum() }
        expectDerivatives([[2, 3, 4]]) { $0[0].mean(axes: [0, 2]) }
        expectDerivatives([[3, 5]]) { $0[0].max(axes: [1]) }
        expectDerivatives([[3, 5]]) { $0[0].max(axes: [0], keepDims: true) * $0[0] }
        expectDerivatives([[3, 1]]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    @Test func shapeOps() {
        expectDerivatives([[2, 3, 4]]) { $0[0].reshaped([4, -1]) * $0[0].reshaped([4, 6]) }
        expectDerivatives([[2, 3, 4]]) { $0[0].permuted([2, 0, 1]) }
        expectDerivatives([[4, 5]]) { $0[0].sliced(lower: [1, 0], upper: [3, 4]) }
        expectDerivatives([[2, 3]]) { $0[0].padded(before: [1, 0], after: [0, 2]) }
        expectDerivatives([[2, 3], [2, 1]]) { Tensor.concatenated([$0[0], $0[1], $0[0]], axis: 1) }
        expectDerivatives([[2, 3, 2]]) { $0[0].flipped(axes: [0, 2]) }
        expectDerivatives([[6]]) { $0[0].gathered(flatIndices: [5, 0, 0, 3], shape: [2, 2]) }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmul(transposeA: Bool, transposeB: Bool) {
        let a = transposeA ? [4, 3] : [3, 4]
        let b = transposeB ? [5, 4] : [4, 5]
        expectDerivatives([a, b]) { Tensor.matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB) }
    }

    @Test(arguments: [ConvolutionGeometry(stride: 1, padding: 0), ConvolutionGeometry(stride: 1, padding: 1),
                      ConvolutionGeometry(stride: 2, padding: 1), ConvolutionGeometry(stride: 2, padding: 0)])
    func convolution(geometry: ConvolutionGeometry) {
        expectDerivatives([[2, 2, 5, 5], [3, 2, 3, 3]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
        expectDerivatives([[2, 3, 4, 4], [2, 3, 1, 1]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
    }

    /// Grouped (2 and 3 groups of 2 channels, 1 or 2 outputs each), depthwise (groups == channels, 1 and 2 outputs per
    /// channel), and grouped 1x1 (the pointwise path without a column matrix) convolutions on odd, non-square images.
    @Test(arguments: [ConvolutionGeometry(stride: 1, padding: 0, groups: 2), ConvolutionGeometry(stride: 1, padding: 1, groups: 3),
                      ConvolutionGeometry(stride: 2, padding: 1, groups: 2), ConvolutionGeometry(stride: 2, padding: 0, groups: 3)])
    func groupedConvolution(geometry: ConvolutionGeometry) {
        let groups = geometry.groups
        expectDerivatives([[2, 2 * groups, 5, 7], [2 * groups, 2, 3, 3]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
        expectDerivatives([[2, groups, 7, 5], [groups, 1, 3, 3]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
        expectDerivatives([[1, groups, 5, 5], [2 * groups, 1, 3, 3]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
        expectDerivatives([[2, 2 * groups, 3, 5], [groups, 2, 1, 1]]) { Tensor.convolution($0[0], $0[1], geometry: geometry) }
    }

    /// A grouped convolution and both its adjoints are the ungrouped ones on each group's slice of channels, in float32
    /// and float64.
    @Test(arguments: [DType.float32, .float64])
    func groupedConvolutionIsEachGroupOnItsSlice(dtype: DType) {
        let geometry = ConvolutionGeometry(stride: 2, padding: 1, groups: 3)
        var generator = SeededGenerator(seed: 21)
        let x = Tensor.randomNormal([3, 6, 7, 9], dtype: dtype, generator: &generator)
        let w = Tensor.randomNormal([9, 2, 3, 3], dtype: dtype, generator: &generator)
        let y = Tensor.convolution(x, w, geometry: geometry)
        let g = Tensor.randomNormal(y.shape, dtype: dtype, generator: &generator)
        let inputGradient = Tensor.convolutionInputGradient(g, w, inputShape: x.shape, geometry: geometry)
        let weightGradient = Tensor.convolutionWeightGradient(x, g, weightShape: w.shape, geometry: geometry)
        let ungrouped = ConvolutionGeometry(stride: 2, padding: 1)
        let slices = (0..<3).map { group in
            (x: x.sliced(axis: 1, (2 * group)..<(2 * group + 2)), w: w.sliced(axis: 0, (3 * group)..<(3 * group + 3)),
             g: g.sliced(axis: 1, (3 * group)..<(3 * group + 3)))
        }
        let expected = [
            (y, Tensor.concatenated(slices.map { Tensor.convolution($0.x, $0.w, geometry: ungrouped) }, axis: 1)),
            (inputGradient, Tensor.concatenated(slices.map {
                Tensor.convolutionInputGradient($0.g, $0.w, inputShape: $0.x.shape, geometry: ungrouped) }, axis: 1)),
            (weightGradient, Tensor.concatenated(slices.map {
                Tensor.convolutionWeightGradient($0.x, $0.g, weightShape: $0.w.shape, geometry: ungrouped) }, axis: 0)),
        ]
        let tolerance = dtype == .float32 ? 1e-5 : 1e-12
        for (actual, reference) in expected {
            #expect(actual.shape == reference.shape)
            let scale = reference.doubles.map { Swift.abs($0) }.max()!
            let error = zip(actual.doubles, reference.doubles).map { Swift.abs($0 - $1) }.max()!
            #expect(error <= tolerance * scale, "\(dtype) \(actual.shape): max |difference| \(error)")
        }
    }

    @Test func pooling() {
        expectDerivatives([[2, 2, 4, 4]]) { $0[0].maxPooled(PoolGeometry(kernel: 2)) }
        expectDerivatives([[1, 2, 5, 5]]) { $0[0].maxPooled(PoolGeometry(kernel: 3, stride: 2, padding: 1)) }
    }

    @Test func normalisation() {
        expectDerivatives([[4, 3, 2, 2], [3], [3]], rtol: 1e-3) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], eps: 1e-5).output }
        expectDerivatives([[6, 3], [3], [3]]) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], eps: 1e-5).output }
        // The upstream gradient of batch norm then depends on x, gamma and beta (as in gradient AT),
        // so the second order reaches every input of the recorded input and gamma gradients.
        expectDerivatives([[4, 3, 2, 2], [3], [3]], rtol: 1e-3) { Tensor.batchNorm($0[0], gamma: $0[1], beta: $0[2], eps: 1e-5).output.pow(3) }
        let (runningMean, runningVariance) = (Tensor(shape: [3], doubles: [0.1, -0.2, 0.3]), Tensor(shape: [3], doubles: [0.5, 1, 2]))
        expectDerivatives([[2, 3, 2, 2], [3], [3]]) {
            Tensor.batchNormInference($0[0], gamma: $0[1], beta: $0[2], runningMean: runningMean, runningVariance: runningVariance, eps: 1e-5)
        }
        expectDerivatives([[3, 4]]) { $0[0].l2Normalized(axis: 1) }
    }

    @Test func batchNormRecordedBackward() {
        // The two ops a recorded batch-norm backward consists of, each against finite differences
        // in all of its inputs (x, the upstream g, gamma), with the statistics of x recomputed.
        func statistics(_ x: Tensor) -> (Tensor, Tensor) {
            GradMode.withoutGrad {
                let (_, mean, variance) = Tensor.batchNorm(x, gamma: .ones([3], dtype: .float64), beta: .zeros([3], dtype: .float64), eps: 1e-5)
                return (mean, (variance + 1e-5).pow(-0.5))
            }
        }
        let input = gradCheck(randomInputs([[4, 3, 2, 2], [4, 3, 2, 2], [3]], seed: 5), rtol: 1e-3) { values in
            let (mean, invstd) = statistics(values[0])
            return Tensor.batchNormGradients(values[0], values[1], gamma: values[2], mean: mean, invstd: invstd).input
        }
        #expect(input.passed, "input gradient \(input)")
        let gamma = gradCheck(randomInputs([[5, 3], [5, 3]], seed: 6), rtol: 1e-3) { values in
            let (mean, invstd) = statistics(values[0])
            return Tensor.batchNormGradients(values[0], values[1], gamma: .ones([3], dtype: .float64), mean: mean, invstd: invstd).gamma
        }
        #expect(gamma.passed, "gamma gradient \(gamma)")
    }

    @Test func activations() {
        expectDerivatives([[3, 5]]) { $0[0].logSoftmax(axis: 1) }
        expectDerivatives([[3, 5]]) { $0[0].softmax(axis: 0) }
        var generator = SeededGenerator(seed: 3)
        let mask = Tensor.ones([4, 4], dtype: .float64).dropout(0.5, generator: &generator)
        expectDerivatives([[4, 4]]) { $0[0] * mask }
    }

    @Test func compositeConvBatchNormRelu() {
        expectDerivatives([[3, 2, 4, 4], [3, 2, 3, 3], [3], [3]], map: awayFromZero) { values in
            let conv = Tensor.convolution(values[0], values[1], geometry: ConvolutionGeometry(stride: 1, padding: 1))
            return Tensor.batchNorm(conv, gamma: values[2], beta: values[3], eps: 1e-5).output.relu().mean(axes: [2, 3])
        }
    }
}

