// oneDNN's three convolution passes against the reference im2col path, on random shapes, in both
// layouts; run-to-run determinism; second derivatives through oneDNN.
//
// Tolerance: every output element is a sum of K products (K = C kh kw forward, at most O kh kw for
// the input gradient, N oh ow for the weight gradient). Any float32 summation order, with or
// without FMA, is within gamma_K = K u / (1 - K u) (u = 2^-24) of the exact sum times the sum of
// the products' magnitudes (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1). The
// exact sums and the magnitudes come from the reference path in float64 (on |x|, |w|, |g| for the
// magnitudes), so the bound holds for every correct kernel and a wrong index breaks it by orders
// of magnitude.
import Foundation
import Parallel
import Testing
import Tensor

/// One random convolution problem with its float32 operands.
private struct Problem: CustomStringConvertible {
    let input: [Int], weight: [Int], geometry: ConvolutionGeometry
    let x: Tensor, w: Tensor, g: Tensor

    init(input: [Int], weight: [Int], geometry: ConvolutionGeometry, generator: inout SeededGenerator) {
        (self.input, self.weight, self.geometry) = (input, weight, geometry)
        x = Tensor.randomNormal(input, generator: &generator)
        w = Tensor.randomNormal(weight, generator: &generator)
        let oh = (input[2] + 2 * geometry.padding - weight[2]) / geometry.stride + 1
        let ow = (input[3] + 2 * geometry.padding - weight[3]) / geometry.stride + 1
        g = Tensor.randomNormal([input[0], weight[0], oh, ow], generator: &generator)
    }

    var description: String {
        "input \(input) weight \(weight) stride \(geometry.stride) padding \(geometry.padding)"
    }

    /// Terms per output element of each pass (an upper bound for the input gradient).
    func terms(_ pass: Pass) -> Int {
        switch pass {
        case .forward: input[1] * weight[2] * weight[3]
        case .inputGradient: weight[0] * weight[2] * weight[3]
        case .weightGradient: g.shape[0] * g.shape[2] * g.shape[3]
        }
    }

    /// The pass on `a`, `b` (float32 or float64), whichever kernel is in force.
    func run(_ pass: Pass, _ a: Tensor, _ b: Tensor) -> Tensor {
        switch pass {
        case .forward: Tensor.convolution(a, b, geometry: geometry)
        case .inputGradient: Tensor.convolutionInputGradient(a, b, inputShape: input, geometry: geometry)
        case .weightGradient: Tensor.convolutionWeightGradient(a, b, weightShape: weight, geometry: geometry)
        }
    }

    /// The pass's float32 operands, in the order of `run`.
    func operands(_ pass: Pass) -> (Tensor, Tensor) {
        switch pass {
        case .forward: (x, w)
        case .inputGradient: (g, w)
        case .weightGradient: (x, g)
        }
    }
}

private enum Pass: CaseIterable { case forward, inputGradient, weightGradient }

/// The pass's exact sums and the sums of its products' magnitudes, from the reference in float64.
private func exactAndMagnitude(_ problem: Problem, _ pass: Pass) -> (exact: [Double], magnitude: [Double]) {
    let (a, b) = problem.operands(pass)
    return ConvolutionKernel.with(.reference) {
        (problem.run(pass, a.converted(to: .float64), b.converted(to: .float64)).doubles,
         problem.run(pass, a.converted(to: .float64).abs(), b.converted(to: .float64).abs()).doubles)
    }
}

/// gamma_K = K u / (1 - K u) for float32 sums of `terms` products.
private func gamma(terms: Int) -> Double {
    let u = 0x1p-24, k = Double(terms)
    return k * u / (1 - k * u)
}

/// The worst `|value - exact| / (gamma_K * magnitude)` over the elements (at most 1 passes), and
/// the worst error relative to the largest exact value, for the report.
private func errorAgainstBound(_ problem: Problem, _ pass: Pass, _ value: Tensor) -> (bound: Double, relative: Double) {
    let (exact, magnitude) = exactAndMagnitude(problem, pass)
    let gamma = gamma(terms: problem.terms(pass))
    let values = value.doubles
    var worst = 0.0, largestError = 0.0
    for i in values.indices {
        let error = Swift.abs(values[i] - exact[i])
        largestError = Swift.max(largestError, error)
        // The smallest positive bound still allows the rounding of a zero-magnitude sum (exactly 0).
        worst = Swift.max(worst, error / Swift.max(gamma * magnitude[i], .leastNormalMagnitude))
    }
    return (worst, largestError / Swift.max(exact.map(Swift.abs).max() ?? 0, .leastNormalMagnitude))
}

/// Random problems over the ranges: batch 1-5, channels 1-37 (1 and 3 always among them),
/// sizes 5-33 odd and even, kernels 1/3/5, stride 1/2, padding 0/1/2.
private func randomProblems(count: Int, seed: UInt64) -> [Problem] {
    var generator = SeededGenerator(seed: seed)
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    return (0..<count).map { index in
        let channels = index % 4 == 0 ? [1, 3][index / 4 % 2] : pick(1...37)
        let kernel = [1, 3, 5][pick(0...2)]
        let input = [pick(1...5), channels, pick(5...33), pick(5...33)]
        let weight = [index % 4 == 2 ? [1, 3][index / 4 % 2] : pick(1...37), channels, kernel, kernel]
        return Problem(input: input, weight: weight, geometry: ConvolutionGeometry(stride: pick(1...2), padding: pick(0...2)),
                       generator: &generator)
    }
}

@Suite struct DNNLConvolutionTests {
    @Test(arguments: [ConvolutionKernel.oneDNNPlain, .oneDNNBlocked])
    func matchesTheReferenceOnRandomShapes(kernel: ConvolutionKernel) {
        for problem in randomProblems(count: 24, seed: 15) {
            for pass in Pass.allCases {
                let (a, b) = problem.operands(pass)
                let value = ConvolutionKernel.with(kernel) { problem.run(pass, a, b) }
                let reference = ConvolutionKernel.with(.reference) { problem.run(pass, a, b) }
                #expect(value.shape == reference.shape)
                let dnnl = errorAgainstBound(problem, pass, value)
                let im2col = errorAgainstBound(problem, pass, reference)
                #expect(dnnl.bound <= 1, "\(kernel) \(pass) \(problem): error \(dnnl.bound) x the float32 bound, \(dnnl.relative) of the largest value")
                #expect(im2col.bound <= 1, "reference \(pass) \(problem): error \(im2col.bound) x the float32 bound")
            }
        }
    }

    @Test(arguments: [ConvolutionKernel.oneDNNPlain, .oneDNNBlocked], [false, true])
    func fusedBiasAndReLUMatchTheReference(kernel: ConvolutionKernel, relu: Bool) {
        // Evaluation's pass: oneDNN adds the bias and applies the ReLU as it writes. The sum has one
        // term more (the bias) and ReLU moves no value further from the exact one, so the bound holds.
        var generator = SeededGenerator(seed: 21)
        // Channel counts that are multiples of 16 as well, where the inference pass asks for the
        // training passes' channel blocks rather than oneDNN's own choice.
        let blockedShapes = [Problem(input: [2, 16, 9, 9], weight: [32, 16, 3, 3], geometry: ConvolutionGeometry(stride: 1, padding: 1), generator: &generator),
                             Problem(input: [3, 32, 8, 7], weight: [16, 32, 1, 1], geometry: ConvolutionGeometry(stride: 2, padding: 0), generator: &generator)]
        for problem in randomProblems(count: 12, seed: 16) + blockedShapes {
            let bias = Tensor.randomNormal([problem.weight[0]], generator: &generator)
            let value = GradMode.withoutGrad {
                ConvolutionKernel.with(kernel) {
                    Tensor.convolution(problem.x, problem.w, bias: bias, geometry: problem.geometry, relu: relu).doubles
                }
            }
            let (exact, magnitude) = exactAndMagnitude(problem, .forward)
            let plane = problem.g.shape[2] * problem.g.shape[3], b = bias.doubles
            let bound = gamma(terms: problem.terms(.forward) + 1)
            var worst = 0.0
            for i in exact.indices {
                let channel = i / plane % problem.weight[0]
                let sum = exact[i] + b[channel]
                let error = Swift.abs(value[i] - (relu ? Swift.max(sum, 0) : sum))
                worst = Swift.max(worst, error / Swift.max(bound * (magnitude[i] + Swift.abs(b[channel])), .leastNormalMagnitude))
            }
            #expect(worst <= 1, "\(kernel) relu \(relu) \(problem): error \(worst) x the float32 bound")
            if relu { #expect(value.allSatisfy { $0 >= 0 }) }
        }
    }

    @Test func theBoundCatchesAWrongKernel() {
        // The same check rejects a result of the right shape from the wrong problem: the weights
        // flipped in space (a convolution instead of a cross-correlation).
        var generator = SeededGenerator(seed: 3)
        let problem = Problem(input: [2, 3, 9, 9], weight: [4, 3, 3, 3], geometry: ConvolutionGeometry(stride: 1, padding: 1),
                              generator: &generator)
        let wrong = ConvolutionKernel.with(.oneDNNBlocked) { Tensor.convolution(problem.x, problem.w.flipped(axes: [2, 3]), geometry: problem.geometry) }
        #expect(errorAgainstBound(problem, .forward, wrong).bound > 100)
    }

    @Test(arguments: [ConvolutionKernel.oneDNNPlain, .oneDNNBlocked], [1, 2])
    func sameInputsAndThreadsGiveTheSameBits(kernel: ConvolutionKernel, threads: Int) {
        var generator = SeededGenerator(seed: 9)
        let problem = Problem(input: [16, 16, 16, 16], weight: [32, 16, 3, 3], geometry: ConvolutionGeometry(stride: 1, padding: 1),
                              generator: &generator)
        ComputeThreads.with(threads) {
            ConvolutionKernel.with(kernel) {
                for pass in Pass.allCases {
                    let (a, b) = problem.operands(pass)
                    let first = problem.run(pass, a, b).scalars
                    for _ in 0..<3 { #expect(problem.run(pass, a, b).scalars == first, "\(kernel) \(pass) at \(threads) threads") }
                }
            }
        }
    }

    @Test(arguments: [ConvolutionKernel.oneDNNPlain, .oneDNNBlocked])
    func secondDerivativesMatchTheReference(kernel: ConvolutionKernel) {
        // d/dw of |d loss/dx|^2 (gradient-based attention transfer's shape): every pass recorded
        // in the backward pass runs on oneDNN and is differentiated again.
        var generator = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal([3, 5, 11, 10], generator: &generator)
        let w = Tensor.randomNormal([6, 5, 3, 3], std: 0.3, generator: &generator)
        let geometry = ConvolutionGeometry(stride: 2, padding: 1)
        func penaltyGradient() -> [Float] {
            let (xv, wv) = (x.copy(), w.copy())
            xv.requiresGrad = true
            wv.requiresGrad = true
            let loss = Tensor.convolution(xv, wv, geometry: geometry).relu().pow(2).sum()
            let inputGradient = gradients(of: loss, wrt: [xv], createGraph: true)[0]
            return gradients(of: inputGradient.pow(2).sum(), wrt: [wv])[0].scalars
        }
        let value = ConvolutionKernel.with(kernel) { penaltyGradient() }
        let reference = ConvolutionKernel.with(.reference) { penaltyGradient() }
        let scale = reference.map(Swift.abs).max()!
        let difference = zip(value, reference).map { Swift.abs($0 - $1) }.max()!
        #expect(difference <= 1e-4 * scale, "largest difference \(difference) against values up to \(scale)")
    }
}
