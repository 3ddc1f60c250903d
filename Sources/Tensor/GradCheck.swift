// Gradient checks against central finite differences, first and second order (PyTorch's
// gradcheck and gradgradcheck). Use float64 inputs: float32 differences are too coarse.

/// The outcome of a gradient check: the worst disagreement between the autodiff gradient and the
/// finite-difference one.
public struct GradCheckResult: CustomStringConvertible, Sendable {
    /// Whether every element was within tolerance.
    public var passed: Bool
    /// The largest `|analytical - numerical|` over all input elements.
    public var maxAbsoluteError: Double
    /// Where the worst disagreement is: input index, element, analytical and numerical values.
    public var worst: String

    public var description: String {
        "\(passed ? "passed" : "FAILED"): max |analytical - numerical| = \(maxAbsoluteError); worst at \(worst)"
    }
}

/// Checks the gradient of `function` with respect to every input. The output (any shape) is
/// reduced to a scalar by a dot product with fixed random weights, and each input element is
/// perturbed by `eps` both ways. Passes when `|a - n| <= atol + rtol * |n|` everywhere.
public func gradCheck(_ inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                      seed: UInt64 = 7, _ function: ([Tensor]) -> Tensor) -> GradCheckResult {
    withoutActuallyEscaping(function) { function in check(inputs, eps: eps, atol: atol, rtol: rtol, seed: seed, function) }
}

private func check(_ inputs: [Tensor], eps: Double, atol: Double, rtol: Double, seed: UInt64,
                   _ function: @escaping ([Tensor]) -> Tensor) -> GradCheckResult {
    precondition(inputs.allSatisfy { $0.dtype == .float64 }, "gradCheck needs float64 inputs")
    for input in inputs { input.requiresGrad = true }
    var generator = SeededGenerator(seed: seed)
    let probe = function(inputs)
    let weights = Tensor.randomNormal(probe.shape, dtype: .float64, generator: &generator)
    let scalar = { (values: [Tensor]) in (function(values) * weights).sum() }

    let analytical = gradients(of: scalar(inputs), wrt: inputs).map(\.doubles)
    var result = GradCheckResult(passed: true, maxAbsoluteError: 0, worst: "nowhere")
    // Evaluated with recording on: the function may itself differentiate (gradGradCheck).
    for (inputIndex, input) in inputs.enumerated() {
        let values = input.pointer(Double.self)
        for element in 0..<input.count {
            let original = values[element]
            values[element] = original + eps
            let plus = scalar(inputs).item
            values[element] = original - eps
            let minus = scalar(inputs).item
            values[element] = original
            let numerical = (plus - minus) / (2 * eps)
            let error = Swift.abs(analytical[inputIndex][element] - numerical)
            if error > result.maxAbsoluteError {
                result.maxAbsoluteError = error
                result.worst = "input \(inputIndex) element \(element): analytical \(analytical[inputIndex][element]), numerical \(numerical)"
            }
            if error > atol + rtol * Swift.abs(numerical) { result.passed = false }
        }
    }
    return result
}

/// Checks second derivatives: the gradient of `sum(u_i * d(function)/d(input_i))` (with the
/// backward pass recorded, random fixed `u_i`) against finite differences of that gradient.
public func gradGradCheck(_ inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                          seed: UInt64 = 11, _ function: @escaping ([Tensor]) -> Tensor) -> GradCheckResult {
    for input in inputs { input.requiresGrad = true }
    var generator = SeededGenerator(seed: seed)
    let probe = function(inputs)
    let weights = Tensor.randomNormal(probe.shape, dtype: .float64, generator: &generator)
    let directions = inputs.map { Tensor.randomNormal($0.shape, dtype: .float64, generator: &generator) }
    return gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, seed: seed) { values in
        let first = gradients(of: (function(values) * weights).sum(), wrt: values, createGraph: true)
        return zip(first, directions).map { ($0 * $1).sum() }.reduce(Tensor(0, dtype: .float64), +)
    }
}
