// `init_stage: {kind: ab}`: activation-boundary transfer. Connectors (1x1 convolution or linear,
// then batch norm) on the student's pre-ReLU responses learn to fire where the teacher's neurons
// fire (cached sign bits), with a margin; deeper pairs weigh more. Logged per layer: the share of
// firings that agree with the teacher's (the paper's activation similarity).
import Foundation
import Losses
import NN
import Tensor

/// The activation-boundary initialisation.
///
/// ### References
/// Heo et al., "Knowledge Transfer via Distillation of Activation Boundaries Formed by Hidden
/// Neurons", AAAI 2019, arXiv:1811.03233.
public struct BoundaryStage: InitStage {
    /// The kind in a pipeline file (`kind: ab`).
    public static let kind = "ab"
    /// `[student pre-activation, teacher boundary point]` pairs, shallow to deep.
    public let pairs: [LayerPair]
    /// The margin mu.
    public let margin: Double

    /// Makes one connector per pair onto the cached `boundary/<teacher>` bits, checking that the spatial sizes match.
    public func prepare(_ setup: TermSetup) throws -> any PreparedInitStage {
        guard !pairs.isEmpty else { throw setup.error("init_stage ab needs pairs of [student pre-activation, teacher boundary]") }
        var generator = SeededGenerator(seed: setup.seed &+ 101)
        var points: [(point: Int, name: String, group: Boundary, connector: Sequential)] = []
        for pair in pairs {
            let point = try setup.point(pair.student, in: "ab pair [\(pair.student), \(pair.teacher)]")
            let group = try setup.group(Boundary.self, named: "boundary/" + pair.teacher, for: "init_stage ab")
            let studentShape = Array(setup.probe.preActivations[point].shape.dropFirst())
            guard studentShape.count == group.shape.count, studentShape.dropFirst() == group.shape.dropFirst() else {
                throw setup.error("cannot connect student \(pair.student) \(studentShape) to teacher \(pair.teacher) \(group.shape): the spatial sizes must match")
            }
            let (inChannels, outChannels) = (studentShape[0], group.shape[0])
            let connector: [any Layer] = studentShape.count == 1
                ? [Linear(inChannels, outChannels, bias: false, generator: &generator), BatchNorm(outChannels)]
                : [Conv2d(inChannels, outChannels, kernel: 1, bias: false, generator: &generator), BatchNorm(outChannels)]
            points.append((point, pair.student, group, Sequential(connector)))
        }
        return Prepared(points, margin: margin)
    }

    final class Prepared: PreparedInitStage {
        let points: [(point: Int, name: String, group: Boundary, connector: Sequential)]
        let margin: Double
        /// Per layer: teacher-agreeing firings and elements seen this epoch.
        private var agreements: [(agree: Int, total: Int)]

        init(_ points: [(point: Int, name: String, group: Boundary, connector: Sequential)], margin: Double) {
            self.points = points
            self.margin = margin
            agreements = points.map { _ in (0, 0) }
        }

        var parameters: [(name: String, tensor: Tensor)] {
            points.enumerated().flatMap { index, point in point.connector.namedParameters(prefix: "connector\(index).") }
        }

        var depth: Int? { nil }

        func loss(_ batch: StudentBatch) throws -> Tensor {
            var total = Tensor(0)
            for (k, point) in points.enumerated() {
                let firing = point.group.firing(try batch.teacher.values(point.group), count: batch.indices.count)
                let weight = 1 / Foundation.pow(2, Double(points.count - 1 - k))
                let connected = point.connector(batch.output.preActivations[point.point])
                total = total + weight * activationBoundaryLoss(connected: connected, teacherFiring: firing, margin: margin)
                agreements[k].agree += Tensor.signAgreements(connected, mask: firing)
                agreements[k].total += firing.count
            }
            return total
        }

        func epochMetrics() -> [String: Double] {
            defer { agreements = agreements.map { _ in (0, 0) } }
            return Dictionary(uniqueKeysWithValues: zip(points.map { "activation_similarity/" + $0.name },
                                                        agreements.map { Double($0.agree) / Double(Swift.max(1, $0.total)) }))
        }
    }
}
