// The teacher's targets for a batch of students, read from the cache: rows of one view of a group
// as tensors, the hint features in float32, boundary bits unpacked to 0/1 firing masks.
import Foundation
import HDF5
import Tensor

/// Reads batches of teacher targets from a cache.
struct StudentTargets {
    let reader: CacheReader

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

    /// `[n] + rowShape` float32 values of `group` for the images `indices` in view `view`.
    func rows(_ group: String, view: Int, indices: [Int], half: Bool = false) throws -> Tensor {
        var values: [Float] = []
        for run in Self.runs(indices) {
            values += half ? try reader.block(group, as: Float16.self, view: view, rows: run).map(Float.init)
                           : try reader.block(group, as: Float.self, view: view, rows: run)
        }
        let rowShape = Array(try reader.file.info(group).shape.dropFirst(2))
        return Tensor(shape: [indices.count] + rowShape, scalars: values)
    }

    /// The teacher's firing pattern at boundary layer `layer`: 0/1 of shape `[n] + shape`.
    func firing(_ layer: String, view: Int, indices: [Int], shape: [Int]) throws -> Tensor {
        let group = "boundary/" + layer
        var packed: [UInt8] = []
        for run in Self.runs(indices) { packed += try reader.block(group, as: UInt8.self, view: view, rows: run) }
        let elements = shape.reduce(1, *), bytes = (elements + 7) / 8
        var mask = [Float](repeating: 0, count: indices.count * elements)
        for image in 0..<indices.count {
            for element in 0..<elements where packed[image * bytes + element / 8] & (0x80 >> UInt8(element % 8)) != 0 {
                mask[image * elements + element] = 1
            }
        }
        return Tensor(shape: [indices.count] + shape, scalars: mask)
    }

    /// The teacher's input gradients, restored from their float16 values and per-image scales.
    func inputGradients(view: Int, indices: [Int]) throws -> Tensor {
        let grads = try rows("input_grad", view: view, indices: indices, half: true)
        let scales = try rows("input_grad_scale", view: view, indices: indices)
        return grads * scales.reshaped([indices.count, 1, 1, 1])
    }
}
