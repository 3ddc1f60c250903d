// The teacher's targets for a batch of students: read from the cache (rows of one view of a group,
// the hint features in float32, boundary bits unpacked to 0/1 firing masks), or computed live by
// the teacher on the same inputs and rounded as the cache stores them (`--online-teacher`, the
// check that the cache holds what the teacher says).
import Foundation
import HDF5
import NN
import Tensor

/// Where a student's teacher targets come from.
protocol TeacherTargets: AnyObject {
    /// `[n] + rowShape` float32 rows of `group` (`logits`, `features/<stage>`, `attention/<stage>`)
    /// for the images `indices` in view `view`.
    func rows(_ group: String, view: Int, indices: [Int]) throws -> Tensor
    /// The teacher's firing pattern at boundary layer `layer`: 0/1 of shape `[n] + shape`.
    func firing(_ layer: String, view: Int, indices: [Int], shape: [Int]) throws -> Tensor
    /// The teacher's input gradients as cached: float16 values times per-image scales.
    func inputGradients(view: Int, indices: [Int]) throws -> Tensor
}

/// 0/1 floats from bits packed 8 to a byte, most significant first: `[n] + shape`.
func unpackFiring(_ packed: [UInt8], images: Int, shape: [Int]) -> Tensor {
    let elements = shape.reduce(1, *), bytes = (elements + 7) / 8
    let mask = [Float](unsafeUninitializedCapacity: images * elements) { mask, initialized in
        packed.withUnsafeBufferPointer { packed in
            for image in 0..<images {
                let (source, target) = (image * bytes, image * elements)
                for element in 0..<elements {
                    mask[target + element] = Float((packed[source + element >> 3] >> (7 - UInt8(element & 7))) & 1)
                }
            }
        }
        initialized = images * elements
    }
    return Tensor(shape: [images] + shape, scalars: mask)
}

/// Targets read from the cache.
final class CachedTargets: TeacherTargets {
    let reader: CacheReader

    init(reader: CacheReader) { self.reader = reader }

    /// Consecutive runs of `indices` (batches are made of blocks, so there are few).
    static func runs(_ indices: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for index in indices {
            if let last = runs.last, last.upperBound == index {
                runs[runs.count - 1] = last.lowerBound..<(index + 1)
            } else {
                runs.append(index..<(index + 1))
            }
        }
        return runs
    }

    func rows(_ group: String, view: Int, indices: [Int]) throws -> Tensor {
        let info = try reader.file.info(group)
        let rowShape = Array(info.shape.dropFirst(2))
        let half = info.elementType == .float16
        var values: [Float] = []
        values.reserveCapacity(indices.count * rowShape.reduce(1, *))
        for run in Self.runs(indices) {
            if half {
                let block = try reader.block(group, as: Float16.self, view: view, rows: run)
                let start = values.count
                values.append(contentsOf: repeatElement(0, count: block.count))
                values.withUnsafeMutableBufferPointer { target in
                    block.withUnsafeBufferPointer { source in
                        for i in 0..<source.count { target[start + i] = Float(source[i]) }
                    }
                }
            } else {
                values.append(contentsOf: try reader.block(group, as: Float.self, view: view, rows: run))
            }
        }
        return Tensor(shape: [indices.count] + rowShape, scalars: values)
    }

    func firing(_ layer: String, view: Int, indices: [Int], shape: [Int]) throws -> Tensor {
        var packed: [UInt8] = []
        for run in Self.runs(indices) { packed += try reader.block("boundary/" + layer, as: UInt8.self, view: view, rows: run) }
        return unpackFiring(packed, images: indices.count, shape: shape)
    }

    func inputGradients(view: Int, indices: [Int]) throws -> Tensor {
        let grads = try rows("input_grad", view: view, indices: indices)
        let scales = try rows("input_grad_scale", view: view, indices: indices)
        return grads * scales.reshaped([indices.count, 1, 1, 1])
    }
}

/// Targets from the teacher itself, run on each batch's images under the cached views and
/// rounded to the cache's storage types; a batch's outputs are kept for its other groups.
final class LiveTargets: TeacherTargets {
    let runner: TeacherRunner
    let halfFeatures: Bool
    /// The teacher's input for a batch: the images `indices` under view `view`, as the students see them.
    let input: (_ indices: [Int], _ view: Int) -> Tensor
    let labels: [Int32]
    private var last: (view: Int, indices: [Int], outputs: TeacherOutputs)?

    init(runner: TeacherRunner, labels: [Int32], halfFeatures: Bool, input: @escaping (_ indices: [Int], _ view: Int) -> Tensor) {
        self.runner = runner
        self.labels = labels
        self.halfFeatures = halfFeatures
        self.input = input
    }

    private func outputs(view: Int, indices: [Int]) -> TeacherOutputs {
        if let last, last.view == view, last.indices == indices { return last.outputs }
        let outputs = runner.run(input(indices, view), labels: indices.map { Int(labels[$0]) })
        last = (view, indices, outputs)
        return outputs
    }

    func rows(_ group: String, view: Int, indices: [Int]) throws -> Tensor {
        let outputs = outputs(view: view, indices: indices)
        let n = indices.count
        let parts = group.split(separator: "/").map(String.init)
        switch parts[0] {
        case "logits":
            return Tensor(shape: [n, outputs.logits.count / n], scalars: outputs.logits)
        case "features":
            let stage = runner.settings.features.firstIndex(of: parts[1])!
            let values = outputs.features[stage]
            return Tensor(shape: outputs.featureShapes[stage], scalars: halfFeatures ? values.map { Float(Float16($0)) } : values)
        default: // attention
            let values = outputs.attention[runner.settings.attention!.layers.firstIndex(of: parts[1])!]
            return Tensor(shape: [n, values.count / n], scalars: values)
        }
    }

    func firing(_ layer: String, view: Int, indices: [Int], shape: [Int]) throws -> Tensor {
        let packed = outputs(view: view, indices: indices).boundary[runner.settings.boundary.firstIndex(of: layer)!]
        return unpackFiring(packed, images: indices.count, shape: shape)
    }

    func inputGradients(view: Int, indices: [Int]) throws -> Tensor {
        let outputs = outputs(view: view, indices: indices)
        let n = indices.count
        let grads = Tensor(shape: [n, outputs.inputGrad.count / n], scalars: outputs.inputGrad.map(Float.init))
        let scales = Tensor(shape: [n, 1], scalars: outputs.inputGradScale)
        return (grads * scales).reshaped(outputs.inputShape)
    }
}
