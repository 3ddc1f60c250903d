// The registry of methods: every loss term and initialisation stage by the name a pipeline file
// gives it. Adding a method is a file in this folder and its line here (or, from another
// module, a call to `Methods.register`).
import Foundation

/// The known loss terms and initialisation stages.
public enum Methods {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var terms: [any LossTerm.Type] = [
        CrossEntropyTerm.self, SoftTargetTerm.self, AttentionTransferTerm.self, InputGradientTerm.self,
        DecoupledKDTerm.self, DISTTerm.self, ContrastiveTerm.self,
    ]
    nonisolated(unsafe) private static var stages: [any InitStage.Type] = [HintStage.self, BoundaryStage.self]

    /// Makes `term` known by its name (a method defined outside this module).
    public static func register(_ term: any LossTerm.Type) {
        lock.withLock { if !terms.contains(where: { $0.name == term.name }) { terms.append(term) } }
    }

    /// Makes `stage` known by its kind.
    public static func register(_ stage: any InitStage.Type) {
        lock.withLock { if !stages.contains(where: { $0.kind == stage.kind }) { stages.append(stage) } }
    }

    static func lossTerm(named name: String) -> (any LossTerm.Type)? { lock.withLock { terms.first { $0.name == name } } }
    static var lossTermNames: [String] { lock.withLock { terms.map { $0.name } } }
    static func initStage(kind: String) -> (any InitStage.Type)? { lock.withLock { stages.first { $0.kind == kind } } }
    static var initStageKinds: [String] { lock.withLock { stages.map { $0.kind } } }
}
