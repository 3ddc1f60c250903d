// `input_grad [V, N, C, H, W]` float16 and `input_grad_scale [V, N]` float32: the gradient of the
// teacher's cross-entropy with respect to its (normalised) input, taken with the teacher's own
// predicted class so that no dataset label enters it, divided by its per-image maximum (float16
// keeps 3 digits of each image's gradient whatever its size).
import HDF5
import Tensor

/// The teacher's input gradient per image.
public struct InputGradient: CacheGroup {
    /// `[C, H, W]` of the input.
    public let shape: [Int]

    /// The gradients of inputs `shape` (`[C, H, W]`).
    public init(shape: [Int]) { self.shape = shape }

    /// What the gradient's cross-entropy is taken against (the `class` attribute of `input_grad`).
    public static let classChoice = "teacher_prediction"

    /// `input_grad`, the main dataset's path.
    public var name: String { "input_grad" }
    /// The option that adds input gradients.
    public static let option = "cache.input_grad: true"
    /// Always: the teacher's pass must differentiate its input.
    public var needsInputGradient: Bool { true }

    /// `input_grad [V, N, C, H, W]` float16 (max |value| 1 per image) and `input_grad_scale [V, N]` float32.
    public var datasets: [CacheDataset] {
        [CacheDataset(path: "input_grad", type: .float16, row: shape,
                      attributes: [("class", .string(Self.classChoice)),
                                   ("meaning", "d(cross-entropy against the teacher's own predicted class)/d(normalised input), divided by input_grad_scale per image")]),
         CacheDataset(path: "input_grad_scale", type: .float32, row: [],
                      attributes: [("meaning", "max |input gradient| per image: input_grad * input_grad_scale restores it")])]
    }

    /// The batch's `[n, C, H, W]` gradients divided by each image's max |value|, and those maxima `[n]`.
    public func rows(from pass: TeacherPass) -> [CachedValues] {
        let grad = pass.inputGradient!.scalars
        let n = pass.inputGradient!.shape[0], row = grad.count / n
        let scales = (0..<n).map { image in grad[(image * row)..<((image + 1) * row)].reduce(0) { Swift.max($0, Swift.abs($1)) } }
        let scaled = grad.enumerated().map { index, value in scales[index / row] > 0 ? Float16(value / scales[index / row]) : 0 }
        return [.float16(scaled), .float32(scales)]
    }

    /// Max-pool windows that tie (flat backgrounds) make the input gradient non-unique: another
    /// BLAS kernel breaks the ties otherwise, and single elements move by tens of percent of the
    /// largest. Rows are therefore compared in norm: each cached gradient (values times scale)
    /// within `rowLimit` of the recomputed one, `|g - g_live| / max(|g|, |g_live|)`, and the batch's
    /// mean within `meanLimit`. Measured across OpenBLAS kernels on 4,096 rows (BENCHMARKS.md): at
    /// most 0.20 per row, 0.048 per batch mean; a wrong row (another image's gradient, zeros, the
    /// wrong view) is 0.7 to 1.4.
    public func verify(cached: [CachedValues], live: [CachedValues]) -> [CacheCheck] {
        let n = live[1].floats.count, d = shape.reduce(1, *)
        let (a, b) = (gradients(cached, count: n).scalars, gradients(live, count: n).scalars)
        let errors = (0..<n).map { image -> Double in
            var (difference, own, recomputed) = (0.0, 0.0, 0.0)
            for i in (image * d)..<((image + 1) * d) {
                let (x, y) = (Double(a[i]), Double(b[i]))
                difference += (x - y) * (x - y)
                own += x * x
                recomputed += y * y
            }
            return difference == 0 ? 0 : difference.squareRoot() / Swift.max(own.squareRoot(), recomputed.squareRoot())
        }
        let worst = errors.indices.max { errors[$0] < errors[$1] } ?? 0
        let mean = errors.reduce(0, +) / Double(Swift.max(1, n))
        let score = Swift.max(errors.isEmpty ? 0 : errors[worst] / Self.rowLimit, mean / Self.meanLimit)
        let detail = String(format: "|cached - live| / |gradient|: worst row %.3g (limit %.2g), mean %.3g (limit %.2g) over %d rows",
                            errors.isEmpty ? 0 : errors[worst], Self.rowLimit, mean, Self.meanLimit, n)
        return [CacheCheck(name: "input_grad", detail: detail, passed: score <= 1, score: score)]
    }

    /// How far, in norm, one row's cached gradient may be from the recomputed one.
    static let rowLimit = 0.5
    /// How far on average over a batch of rows.
    static let meanLimit = 0.15

    /// `[n, C, H, W]`: the cached gradients times their scales.
    public func gradients(_ rows: [CachedValues], count n: Int) -> Tensor {
        let (values, scales) = (rows[0].floats, rows[1].floats)
        let row = shape.reduce(1, *)
        return Tensor(shape: [n] + shape, scalars: values.enumerated().map { $0.element * scales[$0.offset / row] })
    }

    /// The `input_grad` group of `file`, if any; one not taken against the teacher's prediction is refused.
    public static func stored(in file: HDF5File) throws -> [InputGradient] {
        guard try file.contains("input_grad") else { return [] }
        let dataset = try file.dataset("input_grad", as: Float16.self)
        let choice = try dataset.hasAttribute("class") ? try dataset.attribute("class").stringValue : nil
        guard choice == classChoice else {
            throw HDF5Error(file: file.filePath, object: "input_grad",
                            message: "holds gradients taken against \(choice.map { "'\($0)'" } ?? "the dataset's labels (no 'class' attribute)"), not the teacher's predicted class: students would see the labels of unlabelled images; run kd precompute --force")
        }
        return [InputGradient(shape: Array(try dataset.shape.dropFirst(2)))]
    }
}
