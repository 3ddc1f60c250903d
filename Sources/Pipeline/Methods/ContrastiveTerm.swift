// `crd`: contrastive representation distillation against the cached teacher embeddings, with
// learned projection heads for both sides and a momentum memory bank over the cache's images.
// Negatives are drawn uniformly over all images (no labels), a fresh draw per batch, shared by its
// images, from the run's seed and the batch's number, so a resumed run draws the same ones.
import Losses
import NN
import Tensor

/// The sum of CRD's two NCE losses (student anchors against the teacher bank and the other way).
///
/// ### References
/// Tian, Krishnan, Isola, "Contrastive Representation Distillation", ICLR 2020, arXiv:1910.10699.
public struct ContrastiveTerm: LossTerm {
    /// The name in a pipeline file (`loss: crd`).
    public static let name = "crd"
    /// Its memory banks move with every batch's embeddings.
    public static let dataParallelObstacle: String? = "updates its memory banks from each batch, which each process would do with its slice alone"
    /// The projection heads' output size (RepDistiller's feat_dim).
    public let dimension: Int
    /// Negatives per image (nce_k).
    public let negatives: Int
    /// The temperature of the scores (nce_t).
    public let temperature: Double
    /// The memory banks' momentum (nce_m).
    public let momentum: Double

    /// Binds to the cached `embedding` `[N, D]` and the student's penultimate embedding; makes the heads and `[N, dimension]` banks.
    public func prepare(_ setup: TermSetup) throws -> any PreparedTerm {
        guard dimension > 0, negatives > 0, temperature > 0, (0..<1).contains(momentum) else {
            throw setup.error("the crd term needs positive dimension, negatives and temperature, and a momentum in [0, 1)")
        }
        let teacher = try setup.group(Embedding.self, named: "embedding", for: "the crd term")
        guard let studentDimension = setup.probe.embedding?.shape[1] else {
            throw setup.error("the crd term: \(setup.student.arch) has no penultimate embedding")
        }
        return Prepared(self, teacher: teacher, studentDimension: studentDimension, images: setup.images, seed: setup.seed)
    }

    final class Prepared: PreparedTerm {
        let term: ContrastiveTerm
        let teacher: Embedding
        let studentHead: Linear
        let teacherHead: Linear
        let memory: ContrastMemory
        let seed: UInt64
        /// This batch's embeddings, for the memory update after the optimiser step.
        private var pending: (student: Tensor, teacher: Tensor)?

        init(_ term: ContrastiveTerm, teacher: Embedding, studentDimension: Int, images: Int, seed: UInt64) {
            var generator = SeededGenerator(seed: seed &+ 211)
            self.term = term
            self.teacher = teacher
            studentHead = Linear(studentDimension, term.dimension, generator: &generator)
            teacherHead = Linear(teacher.dimension, term.dimension, generator: &generator)
            memory = ContrastMemory(count: images, dimension: term.dimension, temperature: term.temperature, momentum: term.momentum,
                                    generator: &generator)
            self.seed = seed
        }

        var parameters: [(name: String, tensor: Tensor)] {
            studentHead.namedParameters(prefix: "crd.embed_s.") + teacherHead.namedParameters(prefix: "crd.embed_t.")
        }

        var state: [(name: String, tensor: Tensor)] {
            [("crd.memory_student", memory.student), ("crd.memory_teacher", memory.teacher), ("crd.normalizers", memory.normalizers)]
        }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            let n = batch.indices.count
            let s = studentHead(batch.output.embedding!).l2Normalized(axis: 1)
            let t = teacherHead(teacher.tensor(try batch.teacher.values(teacher), count: n)).l2Normalized(axis: 1)
            var draw = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(batch.step) &* 7_919)
            let count = memory.student.shape[0]
            let negatives = (0..<term.negatives).map { _ in Int(draw.next() % UInt64(count)) }
            pending = (s.detached, t.detached)
            return memory.loss(student: s, teacher: t, indices: batch.indices, negatives: negatives)
        }

        func finishStep(_ batch: StudentBatch) {
            guard let pending else { return }
            memory.update(student: pending.student, teacher: pending.teacher, indices: batch.indices)
            self.pending = nil
        }
    }
}
