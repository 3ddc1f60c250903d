// Reductions over chosen axes (sum, mean, max), and broadcasting a tensor up to a larger shape.
import Parallel

/// Sum of `count` values `stride` apart, with eight accumulators (faster, and more accurate than one).
@inline(__always)
func sumStrided<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ count: Int, _ stride: Int) -> T {
    var acc = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
    var i = 0
    if stride == 1 {
        while i + 8 <= count {
            acc.0 += x[i]; acc.1 += x[i + 1]; acc.2 += x[i + 2]; acc.3 += x[i + 3]
            acc.4 += x[i + 4]; acc.5 += x[i + 5]; acc.6 += x[i + 6]; acc.7 += x[i + 7]
            i += 8
        }
    }
    var tail = T(0)
    while i < count { tail += x[i * stride]; i += 1 }
    return ((acc.0 + acc.1) + (acc.2 + acc.3)) + ((acc.4 + acc.5) + (acc.6 + acc.7)) + tail
}

private func reduceKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ out: Tensor, axes: Set<Int>, max: Bool) {
    let shape = x.shape
    let inputStrides = contiguousStrides(shape)
    let source = SendablePointer(base: x.pointer(T.self)), target = SendablePointer(base: out.pointer(T.self))
    let initial: T = max ? -T.infinity : 0
    if axes.contains(shape.count - 1) || shape.isEmpty {
        // Output-major: each output element reduces its own inputs; parallel over outputs.
        let reducedShape = shape.indices.map { axes.contains($0) ? shape[$0] : 1 }
        let keptShape = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        let reduced = BroadcastLoop(shape: reducedShape, strides: [inputStrides])
        let kept = BroadcastLoop(shape: keptShape, strides: [inputStrides])
        let rowOffsets = (0..<reduced.rowCount).map { reduced.offsets(ofRow: $0)[0] }
        let (length, innerStride) = (reduced.rowLength, reduced.strides[0].last!)
        let outputs = out.count
        parallelRanges(outputs, workers: x.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
            for o in range {
                let base = kept.offsets(ofRow: o / kept.rowLength)[0] + (o % kept.rowLength) * kept.strides[0].last!
                var total = initial
                for rowOffset in rowOffsets {
                    let row = source.base + base + rowOffset
                    if max {
                        for i in 0..<length { total = Swift.max(total, row[i * innerStride]) }
                    } else {
                        total += sumStrided(row, length, innerStride)
                    }
                }
                target.base[o] = total
            }
        }
    } else {
        // Input-major: the innermost axis is kept, so rows of the input add onto rows of the output.
        target.base.update(repeating: initial, count: out.count)
        let outStrides = broadcastStrides(out.shape, to: shape)
        let loop = BroadcastLoop(shape: shape, strides: [inputStrides, outStrides])
        let (si, so, length) = (loop.strides[0].last!, loop.strides[1].last!, loop.rowLength)
        loop.forEachRow(in: 0..<loop.rowCount) { offsets in
            let (input, output) = (source.base + offsets[0], target.base + offsets[1])
            for i in 0..<length {
                output[i * so] = max ? Swift.max(output[i * so], input[i * si]) : output[i * so] + input[i * si]
            }
        }
    }
}

private func expandKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ out: Tensor) {
    let loop = BroadcastLoop(shape: out.shape, strides: [broadcastStrides(x.shape, to: out.shape), contiguousStrides(out.shape)])
    let source = SendablePointer(base: x.pointer(T.self)), target = SendablePointer(base: out.pointer(T.self))
    loop.forEachRow { offsets, length, inner in
        let (input, output) = (source.base + offsets[0], target.base + offsets[1])
        if inner[0] == 0 {
            output.update(repeating: input[0], count: length)
        } else {
            for i in 0..<length { output[i] = input[i * inner[0]] }
        }
    }
}

extension Tensor {
    /// Normalises possibly negative axes.
    func normalized(_ axes: [Int]) -> [Int] {
        axes.map { axis in
            let resolved = axis < 0 ? axis + rank : axis
            precondition(resolved >= 0 && resolved < rank, "axis \(axis) of a rank-\(rank) tensor")
            return resolved
        }
    }

    private func reduced(_ axes: [Int], max: Bool) -> Tensor {
        let axes = Set(normalized(axes))
        let outShape = shape.indices.map { axes.contains($0) ? 1 : shape[$0] }
        let out = Tensor(uninitializedShape: outShape, dtype: dtype)
        switch dtype {
        case .float32: reduceKernel(Float.self, self, out, axes: axes, max: max)
        case .float64: reduceKernel(Double.self, self, out, axes: axes, max: max)
        }
        return out
    }

    /// The sum over `axes` (all when nil); reduced axes are kept with size 1 when `keepDims`.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = normalized(axes ?? Array(0..<rank))
        let kept = reduced(axes, max: false).recorded(.sum, [self])
        return keepDims ? kept : kept.reshaped(shape.indices.filter { !axes.contains($0) }.map { shape[$0] })
    }

    /// The mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = normalized(axes ?? Array(0..<rank))
        let count = axes.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) * (1 / Double(count))
    }

    /// The maximum over `axes`; the gradient goes to every element equal to the maximum.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = normalized(axes ?? Array(0..<rank))
        let kept = reduced(axes, max: true).recorded(.max, [self])
        return keepDims ? kept : kept.reshaped(shape.indices.filter { !axes.contains($0) }.map { shape[$0] })
    }

    /// This tensor broadcast to `target` (copying), as NumPy's `broadcast_to`.
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(broadcastShape(shape, target) == target, "cannot expand \(shape) to \(target)")
        let out = Tensor(uninitializedShape: target, dtype: dtype)
        switch dtype {
        case .float32: expandKernel(Float.self, self, out)
        case .float64: expandKernel(Double.self, self, out)
        }
        return out.recorded(.expand, [self])
    }

    /// Sums a broadcast result back to `target`, the shape of an operand before broadcasting.
    public func summed(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let offset = rank - target.count
        let axes = shape.indices.filter { $0 < offset || (target[$0 - offset] == 1 && shape[$0] != 1) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}
