// Decoupled KD, DIST, logit standardisation and CRD against PyTorch (the fixture written by
// scripts/make_loss_fixture.py from each paper's formula, float64), part by part, with the
// largest difference printed, and to second order where the loss can be differentiated twice.
import Foundation
import HDF5
import Losses
import Tensor
import Testing

@Suite struct NewerLossTests {
    let file = try! HDF5File.open(Bundle.module.path(forResource: "losses", ofType: "h5", inDirectory: "Fixtures")!)

    func tensor(_ name: String) throws -> Tensor {
        Tensor(shape: try file.info(name).shape, doubles: try file.dataset(name, as: Double.self).read())
    }

    func scalar(_ name: String) throws -> Double { try file.dataset(name, as: Double.self).read()[0] }

    /// The largest relative difference, printed, and whether it is within `tolerance`.
    func matches(_ name: String, _ ours: [Double], _ theirs: [Double], tolerance: Double = 1e-10) -> Bool {
        guard ours.count == theirs.count else { return false }
        let worst = zip(ours, theirs).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
        print("\(name): largest difference from PyTorch \(worst)")
        return worst <= tolerance
    }

    var labels: [Int] { (try? file.dataset("labels", as: Int32.self).read().map(Int.init)) ?? [] }

    @Test func decoupledKDTermsSeparately() throws {
        let s = try tensor("student_logits"), t = try tensor("teacher_logits")
        s.requiresGrad = true
        let (target, nonTarget) = decoupledKDTerms(studentLogits: s, teacherLogits: t, targets: labels, temperature: 4)
        #expect(matches("dkd target (TCKD)", [target.item], [try scalar("dkd_target")]))
        #expect(matches("dkd non-target (NCKD)", [nonTarget.item], [try scalar("dkd_non_target")]))
        #expect(matches("dkd target gradient", gradients(of: target, wrt: [s])[0].doubles, try tensor("dkd_target_grad").doubles))
        #expect(matches("dkd non-target gradient", gradients(of: nonTarget, wrt: [s])[0].doubles, try tensor("dkd_non_target_grad").doubles))
        // The two parts add up to KD's KL when alpha = beta = 1 is weighted by the teacher's target mass:
        // KL = TCKD + (1 - p_t) NCKD (the paper's eq. 7), checked row by row on one sample.
        let one = Tensor(shape: [1, 10], doubles: Array(s.doubles.prefix(10))), teacherOne = Tensor(shape: [1, 10], doubles: Array(t.doubles.prefix(10)))
        let parts = decoupledKDTerms(studentLogits: one, teacherLogits: teacherOne, targets: [labels[0]], temperature: 4)
        let teacherTarget = (teacherOne / 4).softmax(axis: 1).doubles[labels[0]]
        let kd = softTargetLoss(studentLogits: one, teacherLogits: teacherOne, temperature: 4).item
        #expect(Swift.abs(parts.target.item + (1 - teacherTarget) * parts.nonTarget.item - kd) < 1e-10)
    }

    @Test func distRelationsSeparately() throws {
        let s = try tensor("student_logits"), t = try tensor("teacher_logits")
        s.requiresGrad = true
        let (inter, intra) = distRelations(studentLogits: s, teacherLogits: t, temperature: 4)
        #expect(matches("dist inter-class", [inter.item], [try scalar("dist_inter")]))
        #expect(matches("dist intra-class", [intra.item], [try scalar("dist_intra")]))
        #expect(matches("dist inter-class gradient", gradients(of: inter, wrt: [s])[0].doubles, try tensor("dist_inter_grad").doubles))
        #expect(matches("dist intra-class gradient", gradients(of: intra, wrt: [s])[0].doubles, try tensor("dist_intra_grad").doubles))
        // Identical predictions are perfectly correlated both ways: only the 1e-8 in the denominator
        // (against squared norms of order 1e-2 here) keeps the relations from 0; unrelated ones are far off.
        let same = distRelations(studentLogits: t, teacherLogits: t, temperature: 4)
        #expect(same.inter.item < 1e-3 && same.intra.item < 1e-3, "\(same)")
        #expect(inter.item > 1 && intra.item > 1)
    }

    @Test func standardisationAndKDWithIt() throws {
        let s = try tensor("student_logits"), t = try tensor("teacher_logits")
        s.requiresGrad = true
        #expect(matches("standardised logits", standardized(logits: t).doubles, try tensor("standardized_teacher").doubles))
        let loss = softTargetLoss(studentLogits: standardized(logits: s), teacherLogits: standardized(logits: t), temperature: 2)
        #expect(matches("kd on standardised logits", [loss.item], [try scalar("kd_standardized")]))
        #expect(matches("its gradient", gradients(of: loss, wrt: [s])[0].doubles, try tensor("kd_standardized_grad").doubles))
        // Shifting and scaling the logits changes nothing but the 1e-7 in the denominator.
        #expect(matches("scale invariance", standardized(logits: t * 3 + 7).doubles, standardized(logits: t).doubles, tolerance: 1e-6))
    }

    @Test func contrastiveLossAndMemoryUpdate() throws {
        let fs = try tensor("crd_student"), ft = try tensor("crd_teacher")
        fs.requiresGrad = true
        ft.requiresGrad = true
        let memory = ContrastMemory(student: try tensor("crd_memory_student"), teacher: try tensor("crd_memory_teacher"),
                                    temperature: 0.07, momentum: 0.5)
        let indices = try file.dataset("crd_indices", as: Int32.self).read().map(Int.init)
        let negatives = try file.dataset("crd_negatives", as: Int32.self).read().map(Int.init)
        let loss = memory.loss(student: fs, teacher: ft, indices: indices, negatives: negatives)
        #expect(matches("crd loss", [loss.item], [try scalar("crd_loss")], tolerance: 1e-9))
        #expect(matches("crd normalisers Z", memory.normalizers.doubles, try tensor("crd_z").doubles, tolerance: 1e-6))
        let (gs, gt) = { let g = gradients(of: loss, wrt: [fs, ft]); return (g[0], g[1]) }()
        #expect(matches("crd student gradient", gs.doubles, try tensor("crd_student_grad").doubles, tolerance: 1e-9))
        #expect(matches("crd teacher gradient", gt.doubles, try tensor("crd_teacher_grad").doubles, tolerance: 1e-9))

        // The momentum update, in float32 as training runs it.
        let single = ContrastMemory(student: try tensor("crd_memory_student").converted(to: .float32),
                                    teacher: try tensor("crd_memory_teacher").converted(to: .float32), temperature: 0.07, momentum: 0.5)
        single.update(student: fs.converted(to: .float32), teacher: ft.converted(to: .float32), indices: indices)
        #expect(matches("student memory after the update", single.student.doubles, try tensor("crd_memory_student_updated").doubles, tolerance: 1e-6))
        #expect(matches("teacher memory after the update", single.teacher.doubles, try tensor("crd_memory_teacher_updated").doubles, tolerance: 1e-6))
    }

    @Test func secondOrder() throws {
        let t = try tensor("teacher_logits")
        var generator = SeededGenerator(seed: 5)
        let inputs = { (shape: [Int]) in Tensor.randomNormal(shape, dtype: .float64, generator: &generator) }
        let targets = labels
        let checks: [(String, ([Tensor]) -> Tensor)] = [
            ("dkd", { v in let p = decoupledKDTerms(studentLogits: v[0], teacherLogits: t, targets: targets, temperature: 4); return p.target + 8 * p.nonTarget }),
            ("dist", { v in let r = distRelations(studentLogits: v[0], teacherLogits: t, temperature: 4); return r.inter + r.intra }),
            ("kd-ls", { v in softTargetLoss(studentLogits: standardized(logits: v[0]), teacherLogits: standardized(logits: t), temperature: 2) }),
        ]
        for (name, loss) in checks {
            let first = gradCheck([inputs([4, 10])], loss), second = gradGradCheck([inputs([4, 10])], loss)
            #expect(first.passed, "\(name) first order: \(first)")
            #expect(second.passed, "\(name) second order: \(second)")
        }
        let memory = ContrastMemory(student: try tensor("crd_memory_student"), teacher: try tensor("crd_memory_teacher"),
                                    temperature: 0.5, momentum: 0.5)
        let indices = try file.dataset("crd_indices", as: Int32.self).read().map(Int.init)
        let negatives = try file.dataset("crd_negatives", as: Int32.self).read().map(Int.init)
        _ = memory.loss(student: try tensor("crd_student"), teacher: try tensor("crd_teacher"), indices: indices, negatives: negatives)
        let crd = { (v: [Tensor]) in memory.loss(student: v[0].l2Normalized(axis: 1), teacher: v[1].l2Normalized(axis: 1), indices: indices, negatives: negatives) }
        #expect(gradCheck([inputs([4, 8]), inputs([4, 8])], crd).passed)
        #expect(gradGradCheck([inputs([4, 8]), inputs([4, 8])], crd).passed)
    }
}
