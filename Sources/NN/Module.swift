// Layers and models as a tree of modules with named parameters and buffers, named and ordered as
// PyTorch's state_dict (`layer1.0.conv1.weight`, `bn1.running_mean`).
import Tensor

/// A layer or a model: its own parameters and buffers plus named children.
open class Module {
    /// Training mode (batch statistics, dropout) or evaluation mode.
    public private(set) var isTraining = true

    /// A module in training mode, with no parameters, buffers or children of its own.
    public init() {}

    /// Trainable tensors of this module itself, by local name (`weight`, `bias`).
    open var localParameters: [(String, Tensor)] { [] }
    /// Non-trainable state of this module itself (`running_mean`, ...).
    open var localBuffers: [(String, Tensor)] { [] }
    /// Sub-modules, by local name (`conv1`, `layer1`, `0`).
    open var children: [(String, Module)] { [] }

    /// Every parameter below this module, with its dotted name, in state_dict order.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        localParameters.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    /// Every parameter and buffer, with dotted names: the state_dict.
    public func stateDict(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        localParameters.map { (prefix + $0.0, $0.1) } + localBuffers.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.stateDict(prefix: prefix + $0.0 + ".") }
    }

    /// All parameters, for an optimiser.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// Number of trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Switches this module and its children to training (`true`) or evaluation mode.
    public func train(_ training: Bool = true) {
        isTraining = training
        for (_, child) in children { child.train(training) }
    }

    /// Moves every parameter and buffer to `dtype` (float64 for gradient checks).
    public func convert(to dtype: DType) {
        for (_, tensor) in stateDict() { tensor.convert(to: dtype) }
    }
}

/// PyTorch's default initialisation for convolution and linear layers (`kaiming_uniform_` with
/// a = sqrt(5) for weights, and the same bound for biases): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
func defaultInitialisation(_ shape: [Int], fanIn: Int, generator: inout SeededGenerator) -> Tensor {
    let bound = 1 / Double(fanIn).squareRoot()
    let tensor = Tensor.randomUniform(shape, low: -bound, high: bound, generator: &generator)
    tensor.requiresGrad = true
    return tensor
}
