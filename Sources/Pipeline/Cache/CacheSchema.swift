// The groups of one cache: made from a pipeline's `cache:` settings and its teacher (for writing,
// names checked against the teacher's layers), or read back from a cache file (for reading, from
// its datasets and attributes alone, so a cache written by another program works too). Lookups
// by kind and name; a missing group is an error naming the option that adds it.
import Foundation
import HDF5
import Losses
import NN
import Tensor

/// Every group of a cache, in the order precompute writes them.
public struct CacheSchema: Sendable {
    /// The groups, the logits (all or top k) first.
    public let groups: [any CacheGroup]

    /// The kinds of group a cache can hold.
    static let kinds: [any CacheGroup.Type] = [Logits.self, TopKLogits.self, Features.self, AttentionMaps.self, Boundary.self,
                                               InputGradient.self, Embedding.self]

    init(groups: [any CacheGroup]) { self.groups = groups }

    /// The groups `settings` ask for, shaped by one pass of `teacher` over a zero image of
    /// `imageShape` (`[H, W, C]`); a layer or point the teacher lacks is an error listing its names.
    init(settings: CacheConfig, teacher: any Classifier, imageShape: [Int], classes: Int, file: String) throws {
        let (h, w, c) = (imageShape[0], imageShape[1], imageShape[2])
        let probe = GradMode.withoutGrad { teacher.forward(Tensor.zeros([1, c, h, w]), upto: nil) }
        func resolve(_ name: String, in valid: [String], _ what: String) throws -> Int {
            guard let index = valid.firstIndex(of: name) else {
                throw ConfigError(file: file, message: "cache.\(what): \(teacher.arch) has no '\(name)'; its names are \(valid.joined(separator: ", "))")
            }
            return index
        }
        var groups: [any CacheGroup] = [settings.topK > 0 ? TopKLogits(k: settings.topK, classes: classes) : Logits(classes: classes)]
        for layer in settings.features {
            let shape = probe.features[try resolve(layer, in: teacher.layerNames, "features")].shape
            groups.append(Features(layer: layer, shape: Array(shape.dropFirst()), type: settings.featuresDtype.elementType))
        }
        for layer in settings.attention?.layers ?? [] {
            let shape = probe.features[try resolve(layer, in: teacher.layerNames, "attention.layers")].shape
            groups.append(AttentionMaps(layer: layer, height: shape[2], width: shape[3], mode: settings.attention!.mode, p: settings.attention!.p))
        }
        for point in settings.boundary {
            let shape = probe.preActivations[try resolve(point, in: teacher.preActivationNames, "boundary")].shape
            groups.append(Boundary(point: point, shape: Array(shape.dropFirst())))
        }
        if settings.inputGrad { groups.append(InputGradient(shape: [c, h, w])) }
        if settings.embedding { groups.append(Embedding(dimension: probe.embedding!.shape[1])) }
        self.groups = groups
    }

    /// What `file` holds, from its datasets and their attributes.
    init(file: HDF5File) throws {
        groups = try Self.kinds.flatMap { try $0.storedGroups(in: file) }
    }

    /// Whether the teacher must compute input gradients for these groups.
    var needsInputGradient: Bool { groups.contains { $0.needsInputGradient } }

    /// The group of kind `kind` called `name` (for kinds with one group per cache, its name).
    public func group<G: CacheGroup>(_ kind: G.Type, named name: String, file: String, for user: String) throws -> G {
        if let found = groups.lazy.compactMap({ $0 as? G }).first(where: { $0.name == name }) { return found }
        throw MissingGroupError(file: file, group: name, option: G.option, wantedBy: user)
    }

    /// The teacher's logits: all of them or the top k.
    public func logits(file: String, for user: String) throws -> any LogitsGroup {
        if let found = groups.lazy.compactMap({ $0 as? any LogitsGroup }).first { return found }
        throw MissingGroupError(file: file, group: "logits", option: Logits.option, wantedBy: user)
    }
}

extension CacheGroup {
    /// `stored(in:)` for a kind held as a value of `any CacheGroup.Type`.
    static func storedGroups(in file: HDF5File) throws -> [any CacheGroup] { try stored(in: file) }
}

/// Runs a teacher for the cache: its outputs, and its input gradient when a group needs it.
struct TeacherRunner {
    let model: any Classifier
    let schema: CacheSchema

    init(model: any Classifier, schema: CacheSchema) {
        self.model = model
        self.schema = schema
        model.train(false)
    }

    /// One evaluation-mode pass over `input [n, C, H, W]`. The input gradient is that of the
    /// summed cross-entropy of each image against the teacher's own predicted class.
    func pass(_ input: Tensor) -> TeacherPass {
        var gradient: Tensor?
        let output: ModelOutput
        if schema.needsInputGradient {
            let x = input.detached
            x.requiresGrad = true
            output = model.forward(x, upto: nil)
            let predicted = argmaxRows(output.logits!.detached)
            gradient = gradients(of: crossEntropy(logits: output.logits!, labels: predicted) * Double(predicted.count), wrt: [x])[0]
        } else {
            output = GradMode.withoutGrad { model.forward(input, upto: nil) }
        }
        return TeacherPass(layerNames: model.layerNames, pointNames: model.preActivationNames, output: output, inputGradient: gradient)
    }

    /// Every group's rows for `input`, in schema order.
    func rows(_ input: Tensor) -> [[CachedValues]] {
        let pass = pass(input)
        return GradMode.withoutGrad { schema.groups.map { $0.rows(from: pass) } }
    }
}
