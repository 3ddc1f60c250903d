// The distillation losses against PyTorch (fixture by scripts/make_loss_fixture.py, float64),
// against a direct implementation on unpacked signs (AB), and to second order.
import Foundation
import HDF5
import Losses
import Tensor
import Testing

@Suite struct DistillationLossTests {
    let file = try! HDF5File.open(Bundle.module.path(forResource: "losses", ofType: "h5", inDirectory: "Fixtures")!)

    func tensor(_ name: String) throws -> Tensor {
        Tensor(shape: try file.info(name).shape, doubles: try file.dataset(name, as: Double.self).read())
    }

    func scalar(_ name: String) throws -> Double { try file.dataset(name, as: Double.self).read()[0] }

    func close(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-10) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { Swift.abs($0 - $1) <= tolerance * Swift.max(1, Swift.abs($1)) }
    }

    @Test func knowledgeDistillationWithTheTemperatureSquared() throws {
        let s = try tensor("student_logits"), t = try tensor("teacher_logits")
        s.requiresGrad = true
        let labels = try file.dataset("labels", as: Int32.self).read().map(Int.init)
        let soft = softTargetLoss(studentLogits: s, teacherLogits: t, temperature: 4)
        #expect(Swift.abs(soft.item - (try scalar("kd_soft"))) < 1e-12)
        #expect(close(gradients(of: soft, wrt: [s])[0].doubles, try tensor("kd_soft_grad").doubles))
        let full = 0.9 * softTargetLoss(studentLogits: s, teacherLogits: t, temperature: 4) + 0.1 * crossEntropy(logits: s, labels: labels)
        #expect(Swift.abs(full.item - (try scalar("kd_full"))) < 1e-12)
        // Without the T^2 factor the soft term would be 16 times smaller.
        #expect(Swift.abs(soft.item / 16 - klDivergence(logProbabilities: (s / 4).logSoftmax(axis: 1), targetProbabilities: (t / 4).softmax(axis: 1)).item) < 1e-12)
    }

    @Test func attentionTransferNormalisesTheMaps() throws {
        let fs = try tensor("student_features"), ft = try tensor("teacher_features")
        fs.requiresGrad = true
        let teacherMaps = attentionMap(ft)
        #expect(close(teacherMaps.doubles, try tensor("at_maps_teacher").doubles))
        let rowNorms = teacherMaps.pow(2).sum(axes: [1]).doubles
        #expect(rowNorms.allSatisfy { Swift.abs($0 - 1) < 1e-12 })
        let loss = attentionTransferLoss(student: attentionMap(fs), teacher: teacherMaps)
        #expect(Swift.abs(loss.item - (try scalar("at"))) < 1e-12)
        #expect(close(gradients(of: loss, wrt: [fs])[0].doubles, try tensor("at_grad").doubles))
    }

    @Test func activationBoundariesAgainstPyTorchAndUnpackedSigns() throws {
        let s = try tensor("student_pre"), t = try tensor("teacher_pre")
        s.requiresGrad = true
        let loss = activationBoundaryLoss(connected: s, teacherFiring: t.greater(than: 0), margin: 1)
        #expect(Swift.abs(loss.item - (try scalar("ab"))) < 1e-12)
        #expect(close(gradients(of: loss, wrt: [s])[0].doubles, try tensor("ab_grad").doubles))

        // A direct loop over signs packed 8 to a byte (the cache's format) and unpacked again.
        let (sv, tv) = (s.doubles, t.doubles)
        var packed = [UInt8](repeating: 0, count: (tv.count + 7) / 8)
        for (index, value) in tv.enumerated() where value > 0 { packed[index / 8] |= 0x80 >> UInt8(index % 8) }
        var direct = 0.0
        for (index, value) in sv.enumerated() {
            let fires = packed[index / 8] & (0x80 >> UInt8(index % 8)) != 0
            let gap = fires ? Swift.max(0, 1 - value) : Swift.max(0, 1 + value)
            direct += gap * gap
        }
        #expect(Swift.abs(loss.item - direct / 4 / 1000) < 1e-12)
    }

    @Test func hintLossIsTheMeanSquaredError() throws {
        #expect(Swift.abs(hintLoss(prediction: try tensor("student_pre"), hint: try tensor("teacher_pre")).item - (try scalar("hint"))) < 1e-12)
    }

    @Test func gradientsToSecondOrder() throws {
        let t = try tensor("teacher_logits"), ft = try tensor("teacher_features"), pre = try tensor("teacher_pre")
        var generator = SeededGenerator(seed: 4)
        let inputs = { (shape: [Int]) in Tensor.randomNormal(shape, dtype: .float64, generator: &generator) }
        let kd = { (v: [Tensor]) in softTargetLoss(studentLogits: v[0], teacherLogits: t, temperature: 4) }
        #expect(gradCheck([inputs([4, 10])], kd).passed)
        #expect(gradGradCheck([inputs([4, 10])], kd).passed)
        let at = { (v: [Tensor]) in attentionTransferLoss(student: attentionMap(v[0]), teacher: attentionMap(ft)) }
        #expect(gradCheck([inputs([4, 3, 5, 5])], at).passed)
        #expect(gradGradCheck([inputs([4, 3, 5, 5])], at).passed)
        let ab = { (v: [Tensor]) in activationBoundaryLoss(connected: v[0], teacherFiring: pre.greater(than: 0), margin: 1) }
        #expect(gradCheck([inputs([4, 6, 5, 5])], ab).passed)
        #expect(gradGradCheck([inputs([4, 6, 5, 5])], ab).passed)
        let grads = { (v: [Tensor]) in inputGradientLoss(student: v[0], teacher: pre) }
        #expect(gradGradCheck([inputs([4, 6, 5, 5])], grads).passed)
    }
}
