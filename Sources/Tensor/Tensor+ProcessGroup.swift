// Data-parallel gradients: every process's parameter gradients summed in one collective, with a
// few training statistics riding along.
import Parallel

extension ProcessGroup {
    /// Replaces the `.grad` of each of `tensors` that has one (the same tensors on every process)
    /// with its sum over the processes, and returns `statistics` summed the same way, all in one
    /// collective. Float32 gradients only, as training uses.
    public func sumGradients(of tensors: [Tensor], with statistics: [Float]) -> [Float] {
        let gradients = tensors.compactMap(\.grad)
        precondition(gradients.allSatisfy { $0.dtype == .float32 }, "data-parallel gradients are float32")
        var buffer = [Float](repeating: 0, count: gradients.reduce(0) { $0 + $1.count } + statistics.count)
        buffer.withUnsafeMutableBufferPointer { whole in
            var offset = 0
            for gradient in gradients {
                (whole.baseAddress! + offset).update(from: gradient.pointer(Float.self), count: gradient.count)
                offset += gradient.count
            }
            for (index, value) in statistics.enumerated() { whole[offset + index] = value }
            sum(whole)
            // Fresh tensors: a gradient may share its memory with another (the backward pass of an add).
            offset = 0
            for tensor in tensors {
                guard let gradient = tensor.grad else { continue }
                let summed = Tensor(uninitializedShape: gradient.shape, dtype: .float32)
                summed.pointer(Float.self).update(from: whole.baseAddress! + offset, count: gradient.count)
                tensor.grad = summed
                offset += gradient.count
            }
        }
        return Array(buffer.suffix(statistics.count))
    }
}
