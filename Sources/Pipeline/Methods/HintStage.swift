// `init_stage: {kind: hint}`: FitNet's first stage. The student up to its guided layer, plus a
// regressor (1x1 convolution, batch norm, ReLU), is trained to reproduce the teacher's cached hint
// features; the regressor is dropped afterwards.
import Foundation
import Losses
import NN
import Tensor

/// The hint stage: mean squared error between regressed student features and the teacher's hint.
///
/// ### References
/// Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, arXiv:1412.6550.
public struct HintStage: InitStage {
    /// The kind in a pipeline file (`kind: hint`).
    public static let kind = "hint"
    /// `[student layer, teacher features layer]` pairs (FitNet uses one).
    public let pairs: [LayerPair]

    /// Makes one regressor per pair from the student's layer onto the cached `features/<teacher>`, checking that the spatial sizes match.
    public func prepare(_ setup: TermSetup) throws -> any PreparedInitStage {
        guard !pairs.isEmpty else { throw setup.error("init_stage hint needs pairs of [student layer, teacher features]") }
        var generator = SeededGenerator(seed: setup.seed &+ 101)
        var points: [(layer: Int, group: Features, regressor: Sequential)] = []
        for pair in pairs {
            let layer = try setup.layer(pair.student, in: "hint pair [\(pair.student), \(pair.teacher)]")
            let group = try setup.group(Features.self, named: "features/" + pair.teacher, for: "init_stage hint")
            let studentShape = Array(setup.probe.features[layer].shape.dropFirst())
            guard studentShape.count == 3, studentShape.dropFirst() == group.shape.dropFirst() else {
                throw setup.error("cannot connect student \(pair.student) \(studentShape) to teacher \(pair.teacher) \(group.shape): the spatial sizes must match")
            }
            points.append((layer, group, Sequential([Conv2d(studentShape[0], group.shape[0], kernel: 1, bias: false, generator: &generator),
                                                     BatchNorm(group.shape[0]), ReLU()])))
        }
        return Prepared(points)
    }

    final class Prepared: PreparedInitStage {
        let points: [(layer: Int, group: Features, regressor: Sequential)]

        init(_ points: [(layer: Int, group: Features, regressor: Sequential)]) { self.points = points }

        var parameters: [(name: String, tensor: Tensor)] {
            points.enumerated().flatMap { index, point in point.regressor.namedParameters(prefix: "connector\(index).") }
        }

        var depth: Int? { (points.map(\.layer).max() ?? 0) + 1 }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            try points.reduce(Tensor(0)) { total, point in
                let hint = point.group.tensor(try batch.teacher.values(point.group), count: batch.indices.count)
                return total + hintLoss(prediction: point.regressor(batch.output.features[point.layer]), hint: hint)
            }
        }

        func epochMetrics() -> [String: Double] { [:] }
    }
}
