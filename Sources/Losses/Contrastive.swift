// Contrastive representation distillation: each image's student embedding is told apart from
// other images' teacher embeddings (kept in a momentum memory bank over the dataset), and the
// other way round, with NCE against uniform noise. Embeddings are [B, D], L2-normalised.
import Tensor

/// CRD's NCE loss for one side: `probabilities [B, 1 + K]` holds each anchor's positive pair in
/// column 0 and its K negatives after it, each `exp(score / tau) / Z`. With the noise
/// probability `Pn = 1 / dataCount`, the loss is
/// `-(sum log(P_pos / (P_pos + K Pn)) + sum log(K Pn / (P_neg + K Pn))) / B` (eps 1e-7 added to
/// both denominators, as RepDistiller's ContrastLoss).
///
/// ### References
/// Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, arXiv:1910.10699.
public func contrastiveNCELoss(probabilities p: Tensor, dataCount: Int) -> Tensor {
    let (batch, columns) = (p.shape[0], p.shape[1])
    let noise = Double(columns - 1) / Double(dataCount)
    let positive = p.sliced(axis: 1, 0..<1), negatives = p.sliced(axis: 1, 1..<columns)
    let logPositive = (positive / (positive + (noise + 1e-7))).log()
    let logNegatives = (noise / (negatives + (noise + 1e-7))).log()
    return -(logPositive.sum() + logNegatives.sum()) / Double(batch)
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
    public let temperature: Double
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
    /// (`[B, D]`, normalised) of the images `indices`, each contrasted with the rows
    /// `negatives` (`K` per image) of the other side's bank. Sets Z on the first call.
    public func loss(student s: Tensor, teacher t: Tensor, indices: [Int], negatives: [Int]) -> Tensor {
        let (batch, count) = (indices.count, student.shape[0])
        let perImage = negatives.count / Swift.max(1, batch)
        precondition(s.shape[0] == batch && t.shape == [batch, s.shape[1]] && negatives.count == batch * perImage, "CRD of \(s.shape) and \(t.shape) for \(batch) images")
        var rows: [Int] = []
        rows.reserveCapacity(batch * (perImage + 1))
        for (k, index) in indices.enumerated() {
            rows.append(index)
            rows += negatives[(k * perImage)..<((k + 1) * perImage)]
        }
        func probabilities(_ anchors: Tensor, against bank: Tensor, side: Int) -> Tensor {
            let scores = (Tensor.memoryScores(anchors, MemoryRows(memory: bank, rows: rows, perVector: perImage + 1)) / temperature).exp()
            var z = normalizers.doubles[side]
            if z < 0 {
                z = scores.detached.mean().item * Double(count)
                var values = normalizers.doubles
                values[side] = z
                normalizers.assign(Tensor(shape: [2], doubles: values).converted(to: normalizers.dtype))
            }
            return scores / z
        }
        return contrastiveNCELoss(probabilities: probabilities(s, against: teacher, side: 0), dataCount: count)
            + contrastiveNCELoss(probabilities: probabilities(t, against: student, side: 1), dataCount: count)
    }

    /// Moves the banks' rows `indices` towards this batch's embeddings:
    /// `row = normalise(momentum * row + (1 - momentum) * embedding)`. Call after the backward pass
    /// (the scores' derivative reads the banks as they were).
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
