// Shape ops: reshape (no copy), permute, slice, pad, concatenate and flip (strided copies).
import Parallel

private func stridedCopyKernel<T: TensorScalar>(_: T.Type, _ x: Tensor, _ xBase: Int, _ xStrides: [Int],
                                                _ out: Tensor, _ outBase: Int, _ outStrides: [Int], _ shape: [Int]) {
    let loop = BroadcastLoop(shape: shape, strides: [xStrides, outStrides])
    let source = SendablePointer(base: x.pointer(T.self) + xBase), target = SendablePointer(base: out.pointer(T.self) + outBase)
    loop.forEachRow { offsets, length, inner in
        let (input, output) = (source.base + offsets[0], target.base + offsets[1])
        if inner[0] == 1 && inner[1] == 1 {
            output.update(from: input, count: length)
        } else {
            for i in 0..<length { output[i * inner[1]] = input[i * inner[0]] }
        }
    }
}

/// Copies the elements of `shape` from `x` (starting at `xBase`, stepping by `xStrides`) to `out`.
func stridedCopy(_ x: Tensor, _ xBase: Int, _ xStrides: [Int], _ out: Tensor, _ outBase: Int, _ outStrides: [Int], _ shape: [Int]) {
    guard shape.reduce(1, *) > 0 else { return }
    switch x.dtype {
    case .float32: stridedCopyKernel(Float.self, x, xBase, xStrides, out, outBase, outStrides, shape)
    case .float64: stridedCopyKernel(Double.self, x, xBase, xStrides, out, outBase, outStrides, shape)
    }
}

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
    return strides
}

extension Tensor {
    /// The same values with another shape of the same size (one entry may be -1: inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let unknown = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            target[unknown] = known == 0 ? 0 : count / known
        }
        precondition(target.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        if target == shape { return self }
        return Tensor(shape: target, dtype: dtype, buffer: buffer).recorded(.reshape, [self])
    }

    /// Axes reordered: axis `k` of the result is axis `order[k]` of this tensor.
    public func permuted(_ order: [Int]) -> Tensor {
        let order = normalized(order)
        precondition(Set(order).count == rank && order.count == rank, "permutation \(order) of rank \(rank)")
        let strides = contiguousStrides(shape)
        let outShape = order.map { shape[$0] }
        let out = Tensor(uninitializedShape: outShape, dtype: dtype)
        stridedCopy(self, 0, order.map { strides[$0] }, out, 0, contiguousStrides(outShape), outShape)
        return out.recorded(.permute(order), [self])
    }

    /// The block `lower[a] ..< upper[a]` along every axis `a`.
    public func sliced(lower: [Int], upper: [Int]) -> Tensor {
        precondition(lower.count == rank && upper.count == rank, "slice bounds of rank \(lower.count) for rank \(rank)")
        precondition(shape.indices.allSatisfy { 0 <= lower[$0] && lower[$0] <= upper[$0] && upper[$0] <= shape[$0] },
                     "slice \(lower)..<\(upper) outside \(shape)")
        let strides = contiguousStrides(shape)
        let outShape = shape.indices.map { upper[$0] - lower[$0] }
        let out = Tensor(uninitializedShape: outShape, dtype: dtype)
        let base = shape.indices.reduce(0) { $0 + lower[$1] * strides[$1] }
        stridedCopy(self, base, strides, out, 0, contiguousStrides(outShape), outShape)
        return out.recorded(.slice(lower: lower), [self])
    }

    /// Elements `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = normalized([axis])[0]
        var lower = [Int](repeating: 0, count: rank), upper = shape
        lower[axis] = range.lowerBound
        upper[axis] = range.upperBound
        return sliced(lower: lower, upper: upper)
    }

    /// Rows `rows` of a `[N, D]` matrix, copied into a new `[rows.count, D]` constant (no gradient
    /// flows back: for reading memory banks).
    public func rowsCopied(_ rows: [Int]) -> Tensor {
        precondition(rank == 2 && rows.allSatisfy { $0 >= 0 && $0 < shape[0] }, "rows of \(shape)")
        let d = shape[1]
        let out = Tensor(uninitializedShape: [rows.count, d], dtype: dtype)
        out.buffer.raw.withMemoryRebound(to: UInt8.self, capacity: rows.count * d * dtype.size) { target in
            buffer.raw.withMemoryRebound(to: UInt8.self, capacity: count * dtype.size) { source in
                let width = d * dtype.size
                for (k, row) in rows.enumerated() { (target + k * width).update(from: source + row * width, count: width) }
            }
        }
        return out
    }

    /// Zeros added before and after every axis.
    public func padded(before: [Int], after: [Int]) -> Tensor {
        precondition(before.count == rank && after.count == rank, "padding of rank \(before.count) for rank \(rank)")
        let outShape = shape.indices.map { shape[$0] + before[$0] + after[$0] }
        let out = Tensor.zeros(outShape, dtype: dtype)
        let outStrides = contiguousStrides(outShape)
        let base = shape.indices.reduce(0) { $0 + before[$1] * outStrides[$1] }
        stridedCopy(self, 0, contiguousStrides(shape), out, base, outStrides, shape)
        return out.recorded(.pad(before: before), [self])
    }

    /// Tensors joined along `axis`; all other dimensions must agree.
    public static func concatenated(_ parts: [Tensor], axis: Int) -> Tensor {
        let first = parts[0]
        let axis = first.normalized([axis])[0]
        var outShape = first.shape
        outShape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        for part in parts {
            precondition(part.dtype == first.dtype && part.rank == first.rank
                         && part.shape.indices.allSatisfy { $0 == axis || part.shape[$0] == first.shape[$0] },
                         "concatenating \(part.shape) with \(first.shape) along axis \(axis)")
        }
        let out = Tensor(uninitializedShape: outShape, dtype: first.dtype)
        let outStrides = contiguousStrides(outShape)
        var offset = 0
        for part in parts {
            stridedCopy(part, 0, contiguousStrides(part.shape), out, offset * outStrides[axis], outStrides, part.shape)
            offset += part.shape[axis]
        }
        return out.recorded(.concat(axis: axis), parts)
    }

    /// The order of elements reversed along `axes`.
    public func flipped(axes: [Int]) -> Tensor {
        let axes = Set(normalized(axes))
        var strides = contiguousStrides(shape)
        var base = 0
        for axis in axes {
            base += (shape[axis] - 1) * strides[axis]
            strides[axis] = -strides[axis]
        }
        let out = Tensor(uninitializedShape: shape, dtype: dtype)
        stridedCopy(self, base, strides, out, 0, contiguousStrides(shape), shape)
        return out.recorded(.flip(axes: axes.sorted()), [self])
    }
}
