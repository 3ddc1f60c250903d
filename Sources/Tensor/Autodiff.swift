// Reverse-mode automatic differentiation. Each op that sees an input requiring gradients records a
// node (the op, its inputs, what its rule needs); `gradients(of:wrt:createGraph:)` walks the nodes
// backwards applying the rules in Derivatives.swift. The rules are written with tensor ops, so with
// `createGraph: true` the backward pass is itself recorded and can be differentiated again.

/// One recorded op: its inputs and the extra tensors its derivative rule needs.
final class Node {
    let op: Op
    let inputs: [Tensor]
    let saved: [Tensor]

    init(op: Op, inputs: [Tensor], saved: [Tensor]) {
        self.op = op
        self.inputs = inputs
        self.saved = saved
    }
}

/// Whether ops record themselves for differentiation (on by default, per task or thread).
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// Whether ops are being recorded right now.
    public static var isRecording: Bool { isEnabled }

    /// Runs `body` without recording (inference, optimiser steps, metrics).
    public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false, operation: body)
    }

    /// Runs `body` with recording on or off.
    static func with<R>(recording: Bool, _ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(recording, operation: body)
    }
}

extension Tensor {
    /// Attaches `op` to this freshly computed tensor when any input requires gradients.
    @discardableResult
    func recorded(_ op: Op, _ inputs: [Tensor], saved: [Tensor] = []) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: \.requiresGrad) {
            requiresGrad = true
            node = Node(op: op, inputs: inputs, saved: saved)
        }
        return self
    }
}

/// The gradients of `output` with respect to each of `inputs`: `d(sum(seed * output))/d(input)`,
/// where `seed` defaults to ones (so a scalar loss gives its plain gradient). An input that
/// `output` does not depend on gets zeros. With `createGraph`, the gradients are recorded and can
/// be differentiated again (double backpropagation).
public func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false) -> [Tensor] {
    let order = topologicalOrder(from: output)
    var grads: [ObjectIdentifier: Tensor] = [:]
    grads[ObjectIdentifier(output)] = seed ?? Tensor(repeating: 1, shape: output.shape, dtype: output.dtype)
    let wanted = Set(inputs.map(ObjectIdentifier.init))
    GradMode.with(recording: createGraph) {
        for tensor in order.reversed() {
            let id = ObjectIdentifier(tensor)
            guard let node = tensor.node, let grad = grads[id] else { continue }
            if !wanted.contains(id) { grads[id] = nil }
            let inputGrads = Derivatives.vjp(node, output: tensor, grad: grad)
            for (input, inputGrad) in zip(node.inputs, inputGrads) where input.requiresGrad {
                guard let inputGrad else { continue }
                let key = ObjectIdentifier(input)
                grads[key] = grads[key].map { $0 + inputGrad } ?? inputGrad
            }
        }
    }
    return inputs.map { input in grads[ObjectIdentifier(input)] ?? Tensor.zeros(input.shape, dtype: input.dtype) }
}

/// Every tensor `output` depends on through recorded ops, inputs before the ops that use them.
private func topologicalOrder(from output: Tensor) -> [Tensor] {
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(output, false)]
    while let (tensor, expanded) = stack.popLast() {
        if expanded {
            order.append(tensor)
            continue
        }
        guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
        stack.append((tensor, true))
        for input in tensor.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
            stack.append((input, false))
        }
    }
    return order
}

extension Tensor {
    /// Accumulates the gradient of this scalar into `.grad` of every leaf tensor that requires
    /// gradients (parameters), as PyTorch's `loss.backward()`.
    public func backward() {
        let leaves = topologicalOrder(from: self).filter { $0.node == nil && $0.requiresGrad }
        let leafGrads = gradients(of: self, wrt: leaves)
        GradMode.withoutGrad {
            for (leaf, grad) in zip(leaves, leafGrads) {
                leaf.grad = leaf.grad.map { $0 + grad } ?? grad
            }
        }
    }
}
