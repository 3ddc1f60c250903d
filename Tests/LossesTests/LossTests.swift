// The classification losses against values computed by hand, and against finite differences.
import Foundation
import Losses
import Tensor
import Testing

@Suite struct LossTests {
    @Test func crossEntropyByHand() {
        let logits = Tensor(shape: [2, 3], doubles: [1, 2, 3, 0, 0, 0])
        let first = -log(exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0)))
        let second = -log(1.0 / 3)
        #expect(Swift.abs(crossEntropy(logits: logits, labels: [2, 0]).item - (first + second) / 2) < 1e-12)
        // Unlabelled samples (-1) are left out of the mean.
        #expect(Swift.abs(crossEntropy(logits: logits, labels: [2, -1]).item - first) < 1e-12)
        #expect(crossEntropy(logits: logits, labels: [-1, -1]).item == 0)
    }

    @Test func klDivergenceByHand() {
        let p = Tensor(shape: [1, 2], doubles: [0.25, 0.75])
        let q = Tensor(shape: [1, 2], doubles: [0.5, 0.5])
        let expected = 0.25 * log(0.25 / 0.5) + 0.75 * log(0.75 / 0.5)
        #expect(Swift.abs(klDivergence(logProbabilities: q.log(), targetProbabilities: p).item - expected) < 1e-12)
        #expect(Swift.abs(klDivergence(logProbabilities: p.log(), targetProbabilities: p).item) < 1e-12)
    }

    @Test func meanSquaredErrorByHand() {
        let a = Tensor(shape: [2, 2], doubles: [1, 2, 3, 4]), b = Tensor(shape: [2, 2], doubles: [1, 0, 3, 0])
        #expect(meanSquaredError(a, b).item == (4 + 16) / 4)
    }

    @Test func gradientsFirstAndSecondOrder() {
        var generator = SeededGenerator(seed: 3)
        let logits = { Tensor.randomNormal([4, 5], dtype: .float64, generator: &generator) }
        let ce = { (values: [Tensor]) in crossEntropy(logits: values[0], labels: [1, 4, -1, 0]) }
        #expect(gradCheck([logits()], ce).passed)
        #expect(gradGradCheck([logits()], ce).passed)
        let target = logits().softmax(axis: 1)
        let kl = { (values: [Tensor]) in klDivergence(logProbabilities: values[0].logSoftmax(axis: 1), targetProbabilities: target) }
        #expect(gradCheck([logits()], kl).passed)
        #expect(gradGradCheck([logits()], kl).passed)
        let reference = logits()
        let mse = { (values: [Tensor]) in meanSquaredError(values[0], reference) }
        #expect(gradCheck([logits()], mse).passed)
        #expect(gradGradCheck([logits()], mse).passed)
    }
}
