// The oneDNN wrapper on its own: a hand-computed convolution in both layouts, the primitive cache,
// and errors that name the call, the shape and oneDNN's status.
import DNNL
import Testing

@Suite struct WrapperTests {
    /// A 3x3 image `1...9` and a 2x2 kernel `[1, 0; 0, -1]`: each output is x[i][j] - x[i+1][j+1] = -4.
    @Test(arguments: ConvolutionLayout.allCases)
    func handComputedForwardPass(layout: ConvolutionLayout) throws {
        let shape = ConvolutionShape(input: [1, 1, 3, 3], weight: [1, 1, 2, 2], stride: 1, padding: 0)
        let primitive = try ConvolutionPrimitive.cached(shape, pass: .forward, layout: layout, threads: 1)
        let x: [Float] = (1...9).map(Float.init), w: [Float] = [1, 0, 0, -1]
        var y = [Float](repeating: .nan, count: 4)
        try primitive.execute(x, w, into: &y)
        #expect(y == [-4, -4, -4, -4])
    }

    @Test(arguments: ConvolutionLayout.allCases)
    func inferenceAddsTheBiasAndReLUClipsAtZero(layout: ConvolutionLayout) throws {
        // The same -4 per output on channel 0 with bias 1, and -8 (its kernel doubled) on channel 1 with bias 6.
        let shape = ConvolutionShape(input: [1, 1, 3, 3], weight: [2, 1, 2, 2], stride: 1, padding: 0)
        let x: [Float] = (1...9).map(Float.init), w: [Float] = [1, 0, 0, -1, 2, 0, 0, -2]
        var y = [Float](repeating: .nan, count: 8)
        try ConvolutionPrimitive.cached(shape, pass: .inference, layout: layout, threads: 1).execute(x, w, bias: [1, 6], into: &y)
        #expect(y == [-3, -3, -3, -3, -2, -2, -2, -2])
        let fused = try ConvolutionPrimitive.cached(shape, pass: .inferenceReLU, layout: layout, threads: 1)
        try fused.execute(x, w, bias: [1, 6], into: &y)
        #expect(y == [0, 0, 0, 0, 0, 0, 0, 0])
        try fused.execute(x, w, bias: [5, 9], into: &y)
        #expect(y == [1, 1, 1, 1, 1, 1, 1, 1])
    }

    @Test func backwardDataIsTheTransposedConvolution() throws {
        // One output gradient of 1 at (0,0) spreads the kernel over the input's top-left corner.
        let shape = ConvolutionShape(input: [1, 1, 3, 3], weight: [1, 1, 2, 2], stride: 1, padding: 0)
        let primitive = try ConvolutionPrimitive.cached(shape, pass: .backwardData, layout: .plain, threads: 1)
        var dx = [Float](repeating: .nan, count: 9)
        try primitive.execute([1, 0, 0, 0], [1, 2, 3, 4], into: &dx)
        #expect(dx == [1, 2, 0, 3, 4, 0, 0, 0, 0])
    }

    @Test func primitivesAreCachedPerShapePassLayoutAndThreads() throws {
        let shape = ConvolutionShape(input: [2, 3, 8, 8], weight: [4, 3, 3, 3], stride: 1, padding: 1)
        let first = try ConvolutionPrimitive.cached(shape, pass: .backwardWeights, layout: .blocked, threads: 1)
        #expect(try ConvolutionPrimitive.cached(shape, pass: .backwardWeights, layout: .blocked, threads: 1) === first)
        #expect(try ConvolutionPrimitive.cached(shape, pass: .backwardWeights, layout: .blocked, threads: 2) !== first)
        #expect(try ConvolutionPrimitive.cached(shape, pass: .backwardWeights, layout: .plain, threads: 1) !== first)
        #expect(!first.implementation.isEmpty)
    }

    @Test func anImpossibleShapeThrowsWithTheStatusName() {
        // A 5x5 kernel on an unpadded 3x3 image has no output.
        let shape = ConvolutionShape(input: [1, 2, 3, 3], weight: [4, 2, 5, 5], stride: 1, padding: 0)
        #expect {
            try ConvolutionPrimitive.cached(shape, pass: .forward, layout: .plain, threads: 1)
        } throws: { error in
            guard let error = error as? DNNLError else { return false }
            return error.status == "invalid_arguments" && error.description.contains("1x2x3x3 -> 4, 5x5")
        }
    }
}
