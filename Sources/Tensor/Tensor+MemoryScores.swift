// Scores of vectors against sampled rows of a constant memory bank, and the adjoint: CRD's
// contrast of each embedding with 16,385 memory rows, without copying the rows out.
// v = [B, D] vectors, memory = [N, D] (a constant), rows = [B, R] row numbers per vector.
// `memoryScores` is v -> [B, R], `memoryCombination` is [B, R] -> [B, D]; both are linear in their
// tensor argument and each other's derivative, so they differentiate to any order.
import Parallel

/// A constant memory bank and the rows sampled for each vector of a batch.
public final class MemoryRows: @unchecked Sendable {
    /// `[N, D]`; read when the op runs and when its derivative runs, so it must not change in between.
    let memory: Tensor
    /// `[B * R]` row numbers, `R` per vector.
    let rows: [Int32]
    let perVector: Int

    /// `rows` holds `perVector` row numbers of `memory` for each vector, vector after vector.
    public init(memory: Tensor, rows: [Int], perVector: Int) {
        precondition(memory.rank == 2 && perVector > 0 && rows.count % perVector == 0, "memory rows: \(rows.count) rows, \(perVector) per vector")
        precondition(rows.allSatisfy { $0 >= 0 && $0 < memory.shape[0] }, "a memory row outside 0..<\(memory.shape[0])")
        self.memory = memory.detached
        self.rows = rows.map { Int32($0) }
        self.perVector = perVector
    }
}

@inline(__always)
private func dot<T: TensorScalar>(_ a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ n: Int) -> T {
    if T.self == Float.self, n >= 16 {
        let (x, y) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
        var total = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            total.addProduct(x.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self),
                             y.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self))
            i += 16
        }
        var sum = total.sum()
        while i < n { sum += Float(a[i]) * Float(b[i]); i += 1 }
        return T(sum)
    }
    var sum: T = 0
    for i in 0..<n { sum += a[i] * b[i] }
    return sum
}

private func scoresKernel<T: TensorScalar>(_: T.Type, _ v: Tensor, _ memory: MemoryRows, _ out: Tensor) {
    let (b, d, r) = (v.shape[0], v.shape[1], memory.perVector)
    let (pv, pm, po) = (SendablePointer(base: v.pointer(T.self)), SendablePointer(base: memory.memory.pointer(T.self)),
                        SendablePointer(base: out.pointer(T.self)))
    memory.rows.withUnsafeBufferPointer { rows in
        let rowsPointer = SendablePointer(base: UnsafeMutablePointer(mutating: rows.baseAddress!))
        parallelRanges(b, workers: b * r * d >= parallelThreshold ? ComputeThreads.count : 1) { _, vectors in
            for vector in vectors {
                let x = pv.base + vector * d
                for k in 0..<r {
                    po.base[vector * r + k] = dot(pm.base + Int(rowsPointer.base[vector * r + k]) * d, x, d)
                }
            }
        }
    }
}

private func combinationKernel<T: TensorScalar>(_: T.Type, _ g: Tensor, _ memory: MemoryRows, _ out: Tensor) {
    let (b, d, r) = (g.shape[0], memory.memory.shape[1], memory.perVector)
    let (pg, pm, po) = (SendablePointer(base: g.pointer(T.self)), SendablePointer(base: memory.memory.pointer(T.self)),
                        SendablePointer(base: out.pointer(T.self)))
    memory.rows.withUnsafeBufferPointer { rows in
        let rowsPointer = SendablePointer(base: UnsafeMutablePointer(mutating: rows.baseAddress!))
        parallelRanges(b, workers: b * r * d >= parallelThreshold ? ComputeThreads.count : 1) { _, vectors in
            for vector in vectors {
                let target = po.base + vector * d
                target.update(repeating: 0, count: d)
                for k in 0..<r {
                    let weight = pg.base[vector * r + k]
                    let row = pm.base + Int(rowsPointer.base[vector * r + k]) * d
                    for i in 0..<d { target[i] += weight * row[i] }
                }
            }
        }
    }
}

extension Tensor {
    /// `[B, R]` scores `memory[rows[b, k]] . v[b]` of vectors `v [B, D]` against their sampled rows
    /// of the constant memory (no gradient flows to it).
    public static func memoryScores(_ v: Tensor, _ memory: MemoryRows) -> Tensor {
        precondition(v.rank == 2 && v.shape[1] == memory.memory.shape[1] && v.dtype == memory.memory.dtype
                     && memory.rows.count == v.shape[0] * memory.perVector, "memory scores of \(v.shape) against \(memory.memory.shape)")
        let out = Tensor(uninitializedShape: [v.shape[0], memory.perVector], dtype: v.dtype)
        switch v.dtype {
        case .float32: scoresKernel(Float.self, v, memory, out)
        case .float64: scoresKernel(Double.self, v, memory, out)
        }
        return out.recorded(.memoryScores(memory), [v])
    }

    /// `[B, D]` sums `sum_k g[b, k] memory[rows[b, k]]` of weights `g [B, R]`: the adjoint of
    /// `memoryScores`.
    public static func memoryCombination(_ g: Tensor, _ memory: MemoryRows) -> Tensor {
        precondition(g.rank == 2 && g.shape[1] == memory.perVector && g.dtype == memory.memory.dtype
                     && memory.rows.count == g.shape[0] * memory.perVector, "memory combination of \(g.shape) with \(memory.memory.shape)")
        let out = Tensor(uninitializedShape: [g.shape[0], memory.memory.shape[1]], dtype: g.dtype)
        switch g.dtype {
        case .float32: combinationKernel(Float.self, g, memory, out)
        case .float64: combinationKernel(Double.self, g, memory, out)
        }
        return out.recorded(.memoryCombination(memory), [g])
    }
}
