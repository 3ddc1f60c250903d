// The models of the distillation literature share one interface: logits plus the intermediate
// outputs the distillation losses read, per named layer.
import Tensor

/// What a forward pass returns, as `forward(x, upto)` in ../shared/reference/pytorch/models.py.
public struct ModelOutput {
    /// `[N, classes]`, or nil when the pass stopped early (`upto`).
    public var logits: Tensor?
    /// The output of each named layer reached.
    public var features: [Tensor]
    /// The same points before their ReLU (`pre`).
    public var preActivations: [Tensor]
    /// `[N, D]`: the input of the final linear layer (the penultimate embedding CRD contrasts), or nil
    /// when the pass stopped early.
    public var embedding: Tensor?

    /// Collects a pass's outputs; `embedding` is nil for passes that stop early.
    public init(logits: Tensor?, features: [Tensor], preActivations: [Tensor], embedding: Tensor? = nil) {
        self.logits = logits
        self.features = features
        self.preActivations = preActivations
        self.embedding = embedding
    }
}

/// An image classifier with named layers (the outputs a distillation loss can read), for distillation.
public protocol Classifier: Module {
    /// The architecture's name in the zoo, `Models.names` (`resnet8x4`, `wrn_16_1`, `mobilenetv2`).
    var arch: String { get }
    /// Names of the tapped layers, in order: the keys of `features` (`layer1`, `block2`, `conv1`, ...).
    var layerNames: [String] { get }
    /// Names of the points `preActivations` holds, in order (`layer1`, ... or `conv1`, `conv2`, `fc1`).
    var preActivationNames: [String] { get }
    /// Runs the model on `[N, C, H, W]`, stopping after named layer `upto` (1-based) when given.
    func forward(_ x: Tensor, upto: Int?) -> ModelOutput
    /// Multiply-accumulates of one forward pass per image (convolutions and linear layers).
    var macsPerImage: Int { get }
}

extension Classifier {
    /// Logits of a full forward pass.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x, upto: nil).logits! }

    /// The 1-based index of the named layer called `name`, or nil.
    public func layerIndex(_ name: String) -> Int? { layerNames.firstIndex(of: name).map { $0 + 1 } }

    /// By default the pre-activations are those of the named layers.
    public var preActivationNames: [String] { layerNames }
}
