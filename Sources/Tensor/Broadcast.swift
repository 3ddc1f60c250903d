// Shapes under NumPy broadcasting, and the loop that walks two broadcast operands row by row.
import Parallel

/// The shape two shapes broadcast to, aligned on the right; nil if they are incompatible.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for axis in 0..<rank {
        let x = axis < rank - a.count ? 1 : a[axis - (rank - a.count)]
        let y = axis < rank - b.count ? 1 : b[axis - (rank - b.count)]
        guard x == y || x == 1 || y == 1 else { return nil }
        result[axis] = Swift.max(x, y)
    }
    return result
}

/// Row-major strides of `shape`, with 0 on the axes it is broadcast along to reach `target`.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: target.count)
    var step = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        let targetAxis = axis + target.count - shape.count
        strides[targetAxis] = shape[axis] == 1 ? 0 : step
        step *= shape[axis]
    }
    return strides
}

/// An iteration over an output shape with per-operand strides, simplified: size-1 axes dropped and
/// neighbouring axes merged wherever every operand walks them as one.
struct BroadcastLoop: Sendable {
    var sizes: [Int]
    var strides: [[Int]]

    init(shape: [Int], strides operandStrides: [[Int]]) {
        var sizes: [Int] = []
        var strides = [[Int]](repeating: [], count: operandStrides.count)
        for axis in shape.indices where shape[axis] != 1 {
            if let last = sizes.last,
               operandStrides.indices.allSatisfy({ strides[$0].last! == operandStrides[$0][axis] * shape[axis] }) {
                sizes[sizes.count - 1] = last * shape[axis]
                for operand in operandStrides.indices { strides[operand][strides[operand].count - 1] = operandStrides[operand][axis] }
            } else {
                sizes.append(shape[axis])
                for operand in operandStrides.indices { strides[operand].append(operandStrides[operand][axis]) }
            }
        }
        if sizes.isEmpty {
            sizes = [1]
            strides = strides.map { _ in [0] }
        }
        self.sizes = sizes
        self.strides = strides
    }

    /// Elements in the innermost (merged) axis.
    var rowLength: Int { sizes.last! }
    /// The number of rows (all outer axes).
    var rowCount: Int { sizes.dropLast().reduce(1, *) }

    /// The offset of each operand at the start of row `row`.
    func offsets(ofRow row: Int) -> [Int] {
        var remainder = row
        var result = [Int](repeating: 0, count: strides.count)
        for axis in stride(from: sizes.count - 2, through: 0, by: -1) {
            let index = remainder % sizes[axis]
            remainder /= sizes[axis]
            for operand in strides.indices { result[operand] += index * strides[operand][axis] }
        }
        return result
    }

    /// Calls `body(offsets, rowLength, innerStrides)` for every row, in parallel when the total is large.
    func forEachRow(_ body: @Sendable ([Int], Int, [Int]) -> Void) {
        let rows = rowCount, length = rowLength
        let inner = strides.map { $0.last! }
        if rows == 1 && length >= parallelThreshold {
            // One long row: split it.
            parallelRanges(length, minimumPerWorker: parallelThreshold / 2) { _, range in
                body(inner.map { $0 * range.lowerBound }, range.count, inner)
            }
            return
        }
        parallelRanges(rows, workers: rows * length >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
            forEachRow(in: range) { offsets in body(offsets, length, inner) }
        }
    }

    /// Calls `body(offsets)` for rows `range` in order, stepping the offsets from row to row like
    /// an odometer instead of recomputing (and allocating) them per row: rows of an 8x8 feature
    /// map are 64 elements, which a per-row allocation would outweigh.
    func forEachRow(in range: Range<Int>, _ body: ([Int]) -> Void) {
        guard !range.isEmpty else { return }
        var offsets = offsets(ofRow: range.lowerBound)
        var indices = [Int](repeating: 0, count: sizes.count)
        var remainder = range.lowerBound
        for axis in stride(from: sizes.count - 2, through: 0, by: -1) {
            indices[axis] = remainder % sizes[axis]
            remainder /= sizes[axis]
        }
        for row in range {
            body(offsets)
            guard row + 1 < range.upperBound else { break }
            var axis = sizes.count - 2
            while axis >= 0 {
                indices[axis] += 1
                if indices[axis] < sizes[axis] {
                    for operand in strides.indices { offsets[operand] += strides[operand][axis] }
                    break
                }
                for operand in strides.indices { offsets[operand] -= strides[operand][axis] * (sizes[axis] - 1) }
                indices[axis] = 0
                axis -= 1
            }
        }
    }
}
