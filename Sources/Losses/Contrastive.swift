// Contrastive representation distillation: each image's student embedding is told apart from
// other images' teacher embeddings (kept in a momentum memory bank over the dataset), and the
// other way round, with NCE against uniform noise. Embeddings are [B, D], L2-normalised.
import Tensor

/// CRD's NCE loss for one side, from the anchors' scores (dot products of L2-normalised
/// embeddings): `positive [B, 1]` against their own image's memory row, `negatives [B, K]`
/// against K other rows. With `P = exp(score / tau) / Z` and the noise mass `c = K / dataCount`,
/// the loss is `-(sum log(P_pos / (P_pos + c)) + sum log(c / (P_neg + c))) / B` (1e-7 added to
/// both denominators, as RepDistiller's ContrastLoss).
///
/// ### References
/// Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, arXiv:1910.10699.
public func contrastiveNCELoss(positive: Tensor, negatives: Tensor, temperature: Double, normalizer: Double, dataCount: Int) -> Tensor {
    let noise = Double(negatives.shape[1]) / Double(dataCount)
    let p = (positive / temperature).exp() / normalizer
    let logPositive = (p / (p + (noise + 1e-7))).log()
    let logNegatives = Tensor.noiseContrast(negatives, NoiseContrast(temperature: temperature, normalizer: normalizer, noise: noise))
    return -(logPositive.sum() + logNegatives.sum()) / Double(positive.shape[0])
}

/// CRD's memory: an `[N, D]` bank of L2-normalised embeddings per side (student and teacher) over
/// the dataset's indices, updated with momentum after each batch, and the two normalising
/// constants Z, fixed from the first batch (`mean(exp(score / tau)) * N`, as RepDistiller).
///
/// ### References
/// Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, arXiv:1910.10699.
public final class ContrastMemory {
    /// `[N, D]` student embeddings (RepDistiller's `memory_v1`): what teacher anchors are contrasted with.
    public let student: Tensor
    /// `[N, D]` teacher embeddings (`memory_v2`): what student anchors are contrasted with.
    public let teacher: Tensor
    /// `[2]`: Z of the student-anchored and the teacher-anchored scores; negative until set.
    public let normalizers: Tensor
    /// `tau`, dividing each score before the exponential (RepDistiller's `nce_t`).
    public let temperature: Double
    /// Weight a bank row keeps at each update (RepDistiller's `nce_m`).
    public let momentum: Double

    /// Banks given as `[N, D]` tensors (the student's and the teacher's), Z not yet set.
    public init(student: Tensor, teacher: Tensor, temperature: Double, momentum: Double) {
        precondition(student.rank == 2 && student.shape == teacher.shape && student.dtype == teacher.dtype, "CRD banks \(student.shape) and \(teacher.shape)")
        self.student = student
        self.teacher = teacher
        normalizers = Tensor(shape: [2], doubles: [-1, -1]).converted(to: student.dtype)
        self.temperature = temperature
        self.momentum = momentum
    }

    /// Banks of `count` rows of `dimension` values, uniform in `±1/sqrt(dimension / 3)` as RepDistiller's.
    public convenience init(count: Int, dimension: Int, temperature: Double, momentum: Double, generator: inout SeededGenerator) {
        let bound = 1 / (Double(dimension) / 3).squareRoot()
        self.init(student: Tensor.randomUniform([count, dimension], low: -bound, high: bound, generator: &generator),
                  teacher: Tensor.randomUniform([count, dimension], low: -bound, high: bound, generator: &generator),
                  temperature: temperature, momentum: momentum)
    }

    /// The sum of both sides' NCE losses for student embeddings `s` and teacher embeddings `t`
    /// (`[B, D]`, normalised) of the images `indices`: each anchor is scored against its own
    /// image's row of the other side's bank and against the rows `negatives`, drawn once for the
    /// batch and shared by its images (one matrix product; RepDistiller draws them per image, the
    /// same estimate). Sets each side's Z on its first call.
    ///
    /// ### References
    /// Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, arXiv:1910.10699.
    public func loss(student s: Tensor, teacher t: Tensor, indices: [Int], negatives: [Int]) -> Tensor {
        let (count, d) = (student.shape[0], student.shape[1])
        precondition(s.shape == [indices.count, d] && t.shape == s.shape, "CRD of \(s.shape) and \(t.shape) for \(indices.count) images")
        func side(_ anchors: Tensor, against bank: Tensor, _ index: Int) -> Tensor {
            let positive = (anchors * bank.rowsCopied(indices)).sum(axes: [1], keepDims: true)
            let negative = Tensor.matmul(anchors, bank.rowsCopied(negatives), transposeB: true)
            var z = normalizers.doubles[index]
            if z < 0 {
                // Z: the mean of exp(score / tau) over this first batch's scores, times N.
                let scores = [positive.detached, negative.detached].map { ($0 / temperature).exp().sum().item }
                z = (scores[0] + scores[1]) / Double(indices.count * (negatives.count + 1)) * Double(count)
                var values = normalizers.doubles
                values[index] = z
                normalizers.assign(Tensor(shape: [2], doubles: values).converted(to: normalizers.dtype))
            }
            return contrastiveNCELoss(positive: positive, negatives: negative, temperature: temperature, normalizer: z, dataCount: count)
        }
        return side(s, against: teacher, 0) + side(t, against: student, 1)
    }

    /// Moves the banks' rows `indices` towards this batch's embeddings:
    /// `row = normalise(momentum * row + (1 - momentum) * embedding)`, after the batch's optimiser
    /// step (RepDistiller updates after scoring, with the same embeddings).
    public func update(student s: Tensor, teacher t: Tensor, indices: [Int]) {
        for (bank, embeddings) in [(student, s), (teacher, t)] {
            let (d, new) = (bank.shape[1], embeddings.scalars)
            let keep = Float(momentum), add = Float(1 - momentum)
            bank.withUnsafeMutableFloats { values in
                for (k, index) in indices.enumerated() {
                    let row = values + index * d
                    var norm: Float = 0
                    for i in 0..<d {
                        row[i] = keep * row[i] + add * new[k * d + i]
                        norm += row[i] * row[i]
                    }
                    let scale = 1 / norm.squareRoot()
                    for i in 0..<d { row[i] *= scale }
                }
            }
        }
    }
}
