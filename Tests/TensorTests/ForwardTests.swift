// Forward values of the ops against direct computations by hand or by naive loops.
import Foundation
import Testing
import Parallel
import Tensor

@Suite struct ForwardTests {
    func close(_ a: [Double], _ b: [Double], tolerance: Double = 1e-9) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= tolerance * Swift.max(1, Swift.abs($1)) }
    }

    @Test func broadcastingArithmetic() {
        let a = Tensor(shape: [2, 3], doubles: [1, 2, 3, 4, 5, 6])
        let column = Tensor(shape: [2, 1], doubles: [10, 20])
        #expect((a + column).doubles == [11, 12, 13, 24, 25, 26])
        #expect((a * Tensor(shape: [3], doubles: [1, 0, -1])).doubles == [1, 0, -3, 4, 0, -6])
        #expect((2 - a).doubles == [1, 0, -1, -2, -3, -4])
        #expect((a / 2).doubles == [0.5, 1, 1.5, 2, 2.5, 3])
        #expect(Tensor(shape: [3], doubles: [-1, 0, 2]).relu().doubles == [0, 0, 2])
        #expect(Tensor(shape: [3], doubles: [-1, 0, 2]).clamped(min: -0.5, max: 1).doubles == [-0.5, 0, 1])
        #expect(Tensor(shape: [2], doubles: [4, 9]).sqrt().doubles == [2, 3])
        #expect(Tensor(shape: [2], doubles: [2, 3]).pow(3).doubles == [8, 27])
    }

    @Test func broadcastRowsSteppedAcrossThreads() {
        // Four row axes that do not merge, large enough to be split over two workers mid-row-range:
        // every element against its own index arithmetic; an axis sum of the same walk too.
        let (n, c, h, w) = (16, 5, 9, 64)
        let a = Tensor(shape: [n, c, h, w], doubles: (0..<(n * c * h * w)).map { Double($0 % 1009) })
        let b = Tensor(shape: [c, 1, w], doubles: (0..<(c * w)).map { Double($0 % 31) * 0.5 })
        let out = ComputeThreads.with(2) { (a * b).doubles }
        let expected = (0..<(n * c * h * w)).map { index -> Double in
            let (x, channel) = (index % w, (index / (h * w)) % c)
            return Double(index % 1009) * (Double((channel * w + x) % 31) * 0.5)
        }
        #expect(out == expected)
        let summed = ComputeThreads.with(2) { a.sum(axes: [0, 2]).doubles }
        var expectedSum = [Double](repeating: 0, count: c * w)
        for i in 0..<n {
            for channel in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let index: Int = ((i * c + channel) * h + y) * w + x
                        expectedSum[channel * w + x] += Double(index % 1009)
                    }
                }
            }
        }
        #expect(summed == expectedSum)
    }

    @Test func largeFloatTensorsSplitAcrossThreads() {
        let count = 100_003
        let a = Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 97) })
        let b = Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 13) })
        let sum = (a + b).scalars
        #expect((0..<count).allSatisfy { sum[$0] == Float($0 % 97 + $0 % 13) })
        let big = Tensor(shape: [300, 400], scalars: (0..<120_000).map { Float($0 % 7) })
        let rows = big.sum(axes: [1]).scalars
        #expect(rows.indices.allSatisfy { row in rows[row] == Float((0..<400).reduce(0) { $0 + (row * 400 + $1) % 7 }) })
    }

    @Test func reductionsOverChosenAxes() {
        let x = Tensor(shape: [2, 3, 2], doubles: (0..<12).map(Double.init))
        #expect(x.sum(axes: [1]).doubles == [6, 9, 24, 27])
        #expect(x.sum(axes: [0, 2]).doubles == [14, 22, 30])
        #expect(x.sum(axes: [0]).shape == [3, 2] && x.sum(axes: [0]).doubles == [6, 8, 10, 12, 14, 16])
        #expect(x.mean().item == 5.5)
        #expect(x.max(axes: [1]).doubles == [4, 5, 10, 11])
        #expect(x.max(axes: [2], keepDims: true).shape == [2, 3, 1])
        #expect(Tensor(shape: [2], doubles: [3, 4]).expanded(to: [2, 2]).doubles == [3, 4, 3, 4])
    }

    @Test func shapeOps() {
        let x = Tensor(shape: [2, 3], doubles: [1, 2, 3, 4, 5, 6])
        #expect(x.permuted([1, 0]).doubles == [1, 4, 2, 5, 3, 6])
        #expect(x.sliced(axis: 1, 1..<3).doubles == [2, 3, 5, 6])
        #expect(x.padded(before: [0, 1], after: [1, 0]).doubles == [0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0])
        #expect(Tensor.concatenated([x, x.sliced(axis: 0, 0..<1)], axis: 0).doubles == [1, 2, 3, 4, 5, 6, 1, 2, 3])
        #expect(x.flipped(axes: [1]).doubles == [3, 2, 1, 6, 5, 4])
        #expect(x.reshaped([3, -1]).shape == [3, 2])
    }

    @Test func matmulMatchesNaiveProduct() {
        var generator = SeededGenerator(seed: 2)
        let a = Tensor.randomNormal([70, 40], dtype: .float64, generator: &generator)
        let b = Tensor.randomNormal([40, 90], dtype: .float64, generator: &generator)
        let (av, bv) = (a.doubles, b.doubles)
        var expected = [Double](repeating: 0, count: 70 * 90)
        for i in 0..<70 { for j in 0..<90 { for k in 0..<40 { expected[i * 90 + j] += av[i * 40 + k] * bv[k * 90 + j] } } }
        #expect(close(Tensor.matmul(a, b).doubles, expected))
        #expect(close(Tensor.matmul(a.permuted([1, 0]), b, transposeA: true).doubles, expected))
        #expect(close(Tensor.matmul(a, b.permuted([1, 0]), transposeB: true).doubles, expected))
    }

    /// A direct 6-loop convolution.
    func naiveConvolution(_ x: Tensor, _ w: Tensor, stride: Int, padding: Int) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = ((h + 2 * padding - kh) / stride + 1, (wd + 2 * padding - kw) / stride + 1)
        let (xv, wv) = (x.doubles, w.doubles)
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for f in 0..<o { for y in 0..<oh { for z in 0..<ow {
            var total = 0.0
            for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
                let (iy, ix) = (y * stride - padding + i, z * stride - padding + j)
                if iy >= 0 && iy < h && ix >= 0 && ix < wd { total += xv[((b * c + ch) * h + iy) * wd + ix] * wv[((f * c + ch) * kh + i) * kw + j] }
            } } }
            out[((b * o + f) * oh + y) * ow + z] = total
        } } } }
        return out
    }

    @Test(arguments: [(1, 0), (1, 1), (2, 1), (2, 0), (3, 2)])
    func convolutionMatchesDirectLoops(stride: Int, padding: Int) {
        var generator = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal([3, 4, 9, 8], dtype: .float64, generator: &generator)
        for kernel in [1, 3] {
            let w = Tensor.randomNormal([5, 4, kernel, kernel], dtype: .float64, generator: &generator)
            let geometry = ConvolutionGeometry(stride: stride, padding: padding)
            #expect(close(Tensor.convolution(x, w, geometry: geometry).doubles, naiveConvolution(x, w, stride: stride, padding: padding)))
            let single = Tensor.convolution(x.converted(to: .float32), w.converted(to: .float32), geometry: geometry)
            #expect(close(single.doubles, naiveConvolution(x, w, stride: stride, padding: padding), tolerance: 1e-5))
        }
    }

    @Test func pooling() {
        let x = Tensor(shape: [1, 1, 4, 4], doubles: (0..<16).map { Double(($0 * 7) % 16) })
        // Rows: [0 7 14 5] [12 3 10 1] [8 15 6 13] [4 11 2 9]
        #expect(x.maxPooled(PoolGeometry(kernel: 2)).doubles == [12, 14, 15, 13])
        #expect(x.maxPooled(PoolGeometry(kernel: 3, stride: 2, padding: 1)).doubles == [12, 14, 15, 15])
    }

    @Test func poolingSendsTheGradientToTheFirstMaximum() {
        // Windows with ties: all equal, equal on the top row's right and the bottom row's left,
        // equal in the bottom row, and a strict maximum bottom right, five times across (float32
        // takes four windows at a time, then one), in both float types; then the general path
        // (padding) on equal values.
        let block: [[Double]] = [[5, 5, 1, 7], [5, 5, 7, 2], [1, 2, 0, 3], [9, 9, 3, 4]]
        let gradient: [[Double]] = [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]]
        let across = { (rows: [[Double]]) in rows.flatMap { row in (0..<5).flatMap { _ in row } } }
        for dtype in [DType.float64, .float32] {
            let x = Tensor(shape: [1, 1, 4, 20], doubles: across(block)).converted(to: dtype)
            x.requiresGrad = true
            let pooled = x.maxPooled(PoolGeometry(kernel: 2))
            #expect(pooled.doubles == across([[5, 7], [9, 4]]), "\(dtype)")
            pooled.sum().backward()
            #expect(x.grad!.doubles == across(gradient), "\(dtype)")
        }
        // Random values on odd and even widths: float32 (four at a time) against float64 (one at a time).
        var generator = SeededGenerator(seed: 11)
        for width in [9, 12, 19] {
            let x = Tensor(shape: [2, 3, 6, width], doubles: (0..<(36 * width)).map { _ in generator.nextNormal() })
            let (single, double) = (x.converted(to: .float32), x)
            for t in [single, double] { t.requiresGrad = true }
            let pooled = [single, double].map { $0.maxPooled(PoolGeometry(kernel: 2)) }
            #expect(pooled[0].doubles == pooled[1].doubles.map { Double(Float($0)) }, "width \(width)")
            for p in pooled { (p * p).sum().backward() }
            #expect(single.grad!.doubles.map { $0 != 0 } == double.grad!.doubles.map { $0 != 0 }, "width \(width)")
        }
        let padded = Tensor(shape: [1, 1, 3, 3], doubles: [2, 2, 2, 2, 2, 2, 2, 2, 2])
        padded.requiresGrad = true
        padded.maxPooled(PoolGeometry(kernel: 2, stride: 2, padding: 1)).sum().backward()
        #expect(padded.grad!.doubles == [1, 1, 0, 1, 1, 0, 0, 0, 0])
    }

    @Test func batchNormStatistics() {
        var generator = SeededGenerator(seed: 9)
        let x = Tensor.randomNormal([8, 3, 5, 5], mean: 2, std: 3, generator: &generator)
        let (y, mean, variance) = Tensor.batchNorm(x, gamma: .ones([3]), beta: .zeros([3]), eps: 0)
        let perChannelMean = y.mean(axes: [0, 2, 3]).doubles
        let perChannelVariance = y.pow(2).mean(axes: [0, 2, 3]).doubles
        #expect(perChannelMean.allSatisfy { Swift.abs($0) < 1e-5 })
        #expect(perChannelVariance.allSatisfy { Swift.abs($0 - 1) < 1e-4 })
        #expect(close(mean.doubles, x.mean(axes: [0, 2, 3]).doubles, tolerance: 1e-5))
        let centred = x - x.mean(axes: [0, 2, 3], keepDims: true)
        #expect(close(variance.doubles, centred.pow(2).mean(axes: [0, 2, 3]).doubles, tolerance: 1e-5))
    }

    @Test func softmaxIsStable() {
        let x = Tensor(shape: [2, 3], doubles: [1000, 1001, 1002, -5, 0, 5])
        let p = x.softmax(axis: 1).doubles
        let expected = [exp(-2.0), exp(-1.0), 1].map { $0 / (exp(-2.0) + exp(-1.0) + 1) }
        #expect(close(Array(p[0..<3]), expected))
        #expect(close([p[3..<6].reduce(0, +)], [1]))
        #expect(x.logSoftmax(axis: 1).doubles.allSatisfy { $0.isFinite })
    }

    @Test func l2Normalisation() {
        let x = Tensor(shape: [2, 2], doubles: [3, 4, 0, 0])
        #expect(x.l2Normalized(axis: 1).doubles == [0.6, 0.8, 0, 0])
    }
}
