// What the teacher produces for one batch, in the form the cache stores: logits (or their top k),
// hint features, normalised attention maps, bit-packed pre-ReLU signs, and input gradients.
import Foundation
import Losses
import NN
import Tensor

/// The cached rows of one batch; every array is `[n, row]` flattened.
struct TeacherOutputs {
    var logits: [Float] = []
    var topValues: [Float] = []
    var topIndices: [Int32] = []
    var features: [[Float]] = []
    /// `[n, C, H, W]` of each of `features`.
    var featureShapes: [[Int]] = []
    var attention: [[Float]] = []
    var boundary: [[UInt8]] = []
    var inputGrad: [Float16] = []
    var inputGradScale: [Float] = []
    /// `[n, C, H, W]` of the input (and of `inputGrad`).
    var inputShape: [Int] = []
}

/// Runs the teacher for the cache: which stages and pre-activations, resolved and checked once.
struct TeacherRunner {
    let model: any Classifier
    let settings: CacheConfig
    let featureStages: [Int]
    let attentionStages: [Int]
    let boundaryPoints: [Int]

    /// Resolves layer names, with an error naming a wrong one and the valid ones.
    init(model: any Classifier, settings: CacheConfig, file: String) throws {
        self.model = model
        self.settings = settings
        func resolve(_ names: [String], in valid: [String], _ what: String) throws -> [Int] {
            try names.map { name in
                guard let index = valid.firstIndex(of: name) else {
                    throw ConfigError(file: file, message: "cache.\(what): \(model.arch) has no '\(name)'; its names are \(valid.joined(separator: ", "))")
                }
                return index
            }
        }
        featureStages = try resolve(settings.features, in: model.stageNames, "features")
        attentionStages = try resolve(settings.attention?.layers ?? [], in: model.stageNames, "attention.layers")
        boundaryPoints = try resolve(settings.boundary, in: model.preActivationNames, "boundary")
        model.train(false)
    }

    /// Runs the teacher (evaluation mode) on `input [n,C,H,W]` with `labels`.
    func run(_ input: Tensor, labels: [Int]) -> TeacherOutputs {
        let n = input.shape[0]
        var result = TeacherOutputs()
        result.inputShape = input.shape
        let output: ModelOutput
        if settings.inputGrad {
            input.requiresGrad = true
            output = model.forward(input, upto: nil)
            // The gradient of each image's own cross-entropy: the loss summed over the batch.
            let loss = crossEntropy(logits: output.logits!, labels: labels) * Double(n)
            let grad = gradients(of: loss, wrt: [input])[0].scalars
            let row = grad.count / n
            result.inputGradScale = (0..<n).map { image in grad[(image * row)..<((image + 1) * row)].reduce(0) { Swift.max($0, Swift.abs($1)) } }
            result.inputGrad = grad.enumerated().map { index, value in
                let scale = result.inputGradScale[index / row]
                return scale > 0 ? Float16(value / scale) : 0
            }
        } else {
            output = GradMode.withoutGrad { model.forward(input, upto: nil) }
        }
        let logits = output.logits!.scalars
        if settings.topK > 0 {
            let classes = logits.count / n
            for image in 0..<n {
                let row = Array(logits[(image * classes)..<((image + 1) * classes)])
                let order = row.indices.sorted { row[$0] > row[$1] }.prefix(settings.topK)
                result.topValues += order.map { row[$0] }
                result.topIndices += order.map { Int32($0) }
            }
        } else {
            result.logits = logits
        }
        result.features = featureStages.map { output.features[$0].scalars }
        result.featureShapes = featureStages.map { output.features[$0].shape }
        result.attention = attentionStages.map { attentionMaps(output.features[$0]) }
        result.boundary = boundaryPoints.map { packSigns(output.preActivations[$0]) }
        return result
    }

    /// `F(A)` per position of `[n, C, H, W]`, each image's map divided by its L2 norm: `[n, H*W]`
    /// (the same function the attention-transfer loss applies to the student).
    func attentionMaps(_ features: Tensor) -> [Float] {
        let attention = settings.attention!
        return GradMode.withoutGrad { attentionMap(features.detached, mode: attention.mode, p: attention.p).scalars }
    }

    /// `pre > 0` per element of each image, 8 to a byte, most significant bit first (numpy's
    /// `packbits` order): `[n, ceil(elements / 8)]`.
    func packSigns(_ pre: Tensor) -> [UInt8] {
        TeacherRunner.packSigns(pre.scalars, images: pre.shape[0])
    }

    static func packSigns(_ values: [Float], images: Int) -> [UInt8] {
        let elements = values.count / images
        let bytesPerImage = (elements + 7) / 8
        var packed = [UInt8](repeating: 0, count: images * bytesPerImage)
        for image in 0..<images {
            for element in 0..<elements where values[image * elements + element] > 0 {
                packed[image * bytesPerImage + element / 8] |= 0x80 >> UInt8(element % 8)
            }
        }
        return packed
    }
}

