// `logits_topk/{values,indices,logsumexp}`: the k largest logits of each row, their classes, and
// the log of the full softmax's denominator, so that the kept classes' probabilities are exact.
// Students see the rest of the probability mass spread evenly over the other classes (TinyViT's
// rule). Indices are uint8 for up to 256 classes, uint16 for up to 65,536, else int32.
import Foundation
import HDF5
import Tensor

/// The top k of K logits per row.
///
/// ### References
/// Wu et al., "TinyViT: Fast Pretraining Distillation for Small Vision Transformers", ECCV 2022,
/// arXiv:2207.10666 (sparse soft labels: the top k kept, the rest spread evenly).
public struct TopKLogits: LogitsGroup {
    /// k, the logits kept per row.
    public let k: Int
    /// K, the number of classes.
    public let classes: Int

    /// The top `k` of `classes` logits.
    public init(k: Int, classes: Int) {
        self.k = k
        self.classes = classes
    }

    /// `logits_topk`, the group's path.
    public var name: String { "logits_topk" }
    /// The option that sets k.
    public static let option = "cache.top_k"

    var indexType: ElementType { classes <= 256 ? .uint8 : classes <= 65_536 ? .uint16 : .int32 }

    /// `values [V, N, k]` float32, `indices [V, N, k]` (uint8, uint16 or int32 by K) and `logsumexp [V, N]` float32.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: "logits_topk/values", type: .float32, row: [k],
                      attributes: [("meaning", "the k largest logits of the teacher per image, largest first"), ("classes", .int(Int64(classes)))]),
         CacheDataset(path: "logits_topk/indices", type: indexType, row: [k],
                      attributes: [("meaning", "the class of each kept logit")]),
         CacheDataset(path: "logits_topk/logsumexp", type: .float32, row: [],
                      attributes: [("meaning", "log(sum(exp(logits))) over all classes: exp(value - logsumexp) is a kept class's probability")])]
    }

    /// Each row's k largest logits (largest first, ties to the lower class), their classes, and its log-sum-exp.
    public func rows(from pass: TeacherPass) -> [CachedValues] {
        let logits = pass.output.logits!.scalars
        let n = logits.count / classes
        var values: [Float] = [], indices: [Int] = [], logsumexp: [Float] = []
        for image in 0..<n {
            let row = logits[(image * classes)..<((image + 1) * classes)]
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
            values += order.map { row[$0] }
            indices += order.map { $0 - image * classes }
            let peak = row.max()!
            logsumexp.append(peak + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - peak) }))
        }
        let packed: CachedValues = switch indexType {
        case .uint8: .uint8(indices.map { UInt8($0) })
        case .uint16: .uint16(indices.map { UInt16($0) })
        default: .int32(indices.map { Int32($0) })
        }
        return [.float32(values), packed, .float32(logsumexp)]
    }

    /// Values and log-sum-exp within 1e-4 of the largest recomputed magnitude; at least 99% of indices equal.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        let (stored, recomputed) = (cached[1].integers, live[1].integers)
        let same = zip(stored, recomputed).filter { $0 == $1 }.count
        // Near-equal logits may swap places under a different summation order.
        return [compare("logits_topk/values", cached[0].floats, live[0].floats, relative: 1e-4),
                CacheCheck(name: "logits_topk/indices", detail: "\(same) of \(stored.count) indices equal (limit 99%)", passed: same * 100 >= stored.count * 99,
                           score: Double(stored.count - same) / Swift.max(1, Double(stored.count) / 100)),
                compare("logits_topk/logsumexp", cached[2].floats, live[2].floats, relative: 1e-4)]
    }

    /// `[n, K]` log-probabilities: the kept classes' exactly, the remaining mass `1 - sum(kept)`
    /// shared evenly by the other `K - k` classes.
    public func logits(_ rows: [CachedValues], count n: Int) -> Tensor {
        let (values, indices, logsumexp) = (rows[0].floats, rows[1].integers, rows[2].floats)
        var logProbabilities = [Float](repeating: 0, count: n * classes)
        for image in 0..<n {
            var kept: Float = 0
            for j in 0..<k { kept += Foundation.exp(values[image * k + j] - logsumexp[image]) }
            let others = classes - k
            let share = others > 0 ? Foundation.log(Swift.max(1 - kept, 1e-30) / Float(others)) : 0
            for c in 0..<classes { logProbabilities[image * classes + c] = share }
            for j in 0..<k { logProbabilities[image * classes + indices[image * k + j]] = values[image * k + j] - logsumexp[image] }
        }
        return Tensor(shape: [n, classes], scalars: logProbabilities)
    }

    /// Each row's first kept class (its largest logit).
    public func predictedClasses(_ rows: [CachedValues], count n: Int) -> [Int] {
        let indices = rows[1].integers
        return (0..<n).map { indices[$0 * k] }
    }

    /// The `logits_topk` group of `file`, if any; K comes from the `classes` attribute.
    public static func stored(in file: HDF5File) throws -> [TopKLogits] {
        guard try file.contains("logits_topk/values") else { return [] }
        let values = try file.dataset("logits_topk/values", as: Float.self)
        guard try values.hasAttribute("classes"), let classes = try values.attribute("classes").intValue else {
            throw HDF5Error(file: file.filePath, object: "logits_topk/values", message: "has no 'classes' attribute (the number of classes K)")
        }
        return [TopKLogits(k: try values.shape.last ?? 0, classes: Int(classes))]
    }
}
