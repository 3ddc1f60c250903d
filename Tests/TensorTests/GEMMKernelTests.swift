// Float32 matrix products on each GEMM kernel (oneDNN's dnnl_sgemm, OpenBLAS) against the float64
// product on random shapes, including the ones the measured rule sends either way; the same
// operands and threads give the same bits; float64 stays on OpenBLAS whatever is forced.
// Tolerance: as in DNNLConvolutionTests.swift, gamma_K times the product of the magnitudes (every
// float32 summation order of K terms is within it; a wrong index breaks it by orders of magnitude).
import Parallel
import Testing
import Tensor

/// One random product `op(a) [m,k] x op(b) [k,n]` in float32.
private struct Product: CustomStringConvertible {
    let m, n, k: Int
    let transposeA, transposeB: Bool
    let a, b: Tensor

    init(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, generator: inout SeededGenerator) {
        (self.m, self.n, self.k, self.transposeA, self.transposeB) = (m, n, k, transposeA, transposeB)
        a = Tensor.randomNormal(transposeA ? [k, m] : [m, k], generator: &generator)
        b = Tensor.randomNormal(transposeB ? [n, k] : [k, n], generator: &generator)
    }

    var description: String { "\(transposeA ? "T" : "N")\(transposeB ? "T" : "N") m=\(m) n=\(n) k=\(k)" }

    func run(_ x: Tensor, _ y: Tensor) -> Tensor { Tensor.matmul(x, y, transposeA: transposeA, transposeB: transposeB) }

    /// The worst `|value - exact| / (gamma_k * magnitude)` over the elements (at most 1 passes).
    func errorAgainstBound(_ value: Tensor) -> Double {
        let (a64, b64) = (a.converted(to: .float64), b.converted(to: .float64))
        let exact = run(a64, b64).doubles, magnitude = run(a64.abs(), b64.abs()).doubles
        let u = 0x1p-24, terms = Double(k)
        let gamma = terms * u / (1 - terms * u)
        return zip(value.doubles, zip(exact, magnitude)).map { value, reference in
            Swift.abs(value - reference.0) / Swift.max(gamma * reference.1, .leastNormalMagnitude)
        }.max() ?? 0
    }
}

/// Random products in all four transpose combinations: small and odd sizes, one-row products,
/// fewer than 16 columns, 512- and 1024-wide B rows, and some large enough to be split over the
/// compute threads.
private func randomProducts(seed: UInt64) -> [Product] {
    var generator = SeededGenerator(seed: seed)
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    return (0..<24).map { index in
        let (m, n, k): (Int, Int, Int)
        switch index / 4 {
        case 0: (m, n, k) = (pick(1...9), pick(1...9), pick(1...9))
        case 1: (m, n, k) = (1, pick(1...1100), pick(1...40))
        case 2: (m, n, k) = (pick(2...70), pick(1...15), pick(1...700))
        case 3: (m, n, k) = (pick(2...40), [512, 1024][index % 2], pick(1...200))
        case 4: (m, n, k) = (pick(100...300), pick(30...90), pick(100...600))
        default: (m, n, k) = (pick(1...130), pick(1...130), pick(1...130))
        }
        return Product(m: m, n: n, k: k, transposeA: index % 2 == 1, transposeB: index / 2 % 2 == 1, generator: &generator)
    }
}

@Suite struct GEMMKernelTests {
    @Test(arguments: GEMMKernel.allCases)
    func productsAreWithinTheFloat32BoundOnRandomShapes(kernel: GEMMKernel) {
        for product in randomProducts(seed: 31) {
            let value = GEMMKernel.with(kernel) { product.run(product.a, product.b) }
            #expect(value.shape == [product.m, product.n])
            let error = product.errorAgainstBound(value)
            #expect(error <= 1, "\(kernel) \(product): error \(error) x the float32 bound")
        }
    }

    @Test func theBoundCatchesAWrongProduct() {
        var generator = SeededGenerator(seed: 5)
        let product = Product(m: 6, n: 5, k: 40, transposeA: false, transposeB: false, generator: &generator)
        // The right shape from the wrong operand: B with its rows reversed.
        let wrong = Tensor.matmul(product.a, product.b.flipped(axes: [0]))
        #expect(product.errorAgainstBound(wrong) > 100)
    }

    @Test(arguments: GEMMKernel.allCases, [1, 2])
    func sameOperandsAndThreadsGiveTheSameBits(kernel: GEMMKernel, threads: Int) {
        ComputeThreads.with(threads) {
            GEMMKernel.with(kernel) {
                for product in randomProducts(seed: 8) {
                    let first = product.run(product.a, product.b).scalars
                    #expect(product.run(product.a.copy(), product.b.copy()).scalars == first, "\(kernel) \(product) at \(threads) threads")
                }
            }
        }
    }

    @Test func float64ProductsStayOnOpenBLAS() {
        var generator = SeededGenerator(seed: 6)
        let a = Tensor.randomNormal([37, 300], dtype: .float64, generator: &generator)
        let b = Tensor.randomNormal([300, 23], dtype: .float64, generator: &generator)
        let forced = GEMMKernel.with(.oneDNN) { Tensor.matmul(a, b) }
        #expect(forced.dtype == .float64)
        #expect(forced.doubles == GEMMKernel.with(.openBLAS) { Tensor.matmul(a, b) }.doubles)
    }

    @Test(arguments: GEMMKernel.allCases)
    func im2colConvolutionsAgreeOnEitherKernel(kernel: GEMMKernel) {
        // The reference convolution's three passes (ordinary, strided 1x1, depthwise), float32 on
        // `kernel` against float64, relative to the largest value (the per-element bound lives in
        // DNNLConvolutionTests).
        var generator = SeededGenerator(seed: 12)
        let cases: [([Int], [Int], ConvolutionGeometry)] = [
            ([3, 5, 13, 11], [7, 5, 3, 3], ConvolutionGeometry(stride: 1, padding: 1)),
            ([2, 6, 12, 12], [9, 6, 1, 1], ConvolutionGeometry(stride: 2, padding: 0)),
            ([2, 8, 32, 32], [8, 1, 3, 3], ConvolutionGeometry(stride: 1, padding: 1, groups: 8)),
        ]
        for (input, weight, geometry) in cases {
            let x = Tensor.randomNormal(input, generator: &generator), w = Tensor.randomNormal(weight, generator: &generator)
            let y = ConvolutionKernel.with(.reference) { Tensor.convolution(x, w, geometry: geometry) }
            let g = Tensor.randomNormal(y.shape, generator: &generator)
            let passes: [(String, (Tensor, Tensor, Tensor) -> Tensor)] = [
                ("forward", { x, w, _ in Tensor.convolution(x, w, geometry: geometry) }),
                ("input gradient", { _, w, g in Tensor.convolutionInputGradient(g, w, inputShape: input, geometry: geometry) }),
                ("weight gradient", { x, _, g in Tensor.convolutionWeightGradient(x, g, weightShape: weight, geometry: geometry) }),
            ]
            for (name, pass) in passes {
                let value = ConvolutionKernel.with(.reference) { GEMMKernel.with(kernel) { pass(x, w, g) } }
                let exact = ConvolutionKernel.with(.reference) {
                    pass(x.converted(to: .float64), w.converted(to: .float64), g.converted(to: .float64))
                }.doubles
                let scale = exact.map(Swift.abs).max()!
                let difference = zip(value.doubles, exact).map { Swift.abs($0 - $1) }.max()!
                #expect(difference <= 1e-5 * scale, "\(kernel) \(name) of \(input) with \(weight): \(difference) against values up to \(scale)")
            }
        }
    }
}
