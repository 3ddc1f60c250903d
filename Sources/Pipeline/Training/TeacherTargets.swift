// Where a student's teacher targets come from: the cache's rows, or the teacher itself run on the
// same inputs (`--online-teacher`), its outputs encoded exactly as precompute stores them, which
// makes it the check that the cache holds what the teacher says.
import Foundation
import Tensor

/// The teacher's rows of any cache group for a batch of images in one view.
protocol TeacherTargets: AnyObject {
    func rows(of group: any CacheGroup, view: Int, indices: [Int]) throws -> [CachedValues]
}

/// Targets read from the cache.
final class CachedTargets: TeacherTargets {
    let reader: CacheReader

    init(reader: CacheReader) { self.reader = reader }

    func rows(of group: any CacheGroup, view: Int, indices: [Int]) throws -> [CachedValues] {
        try reader.rows(of: group, view: view, indices: indices)
    }
}

/// Targets from the teacher, run on each batch's images under the cached views; one pass gives
/// every group of the batch.
final class LiveTargets: TeacherTargets {
    let runner: TeacherRunner
    /// The teacher's input for a batch: the images `indices` under view `view`, as the students see them.
    let input: (_ indices: [Int], _ view: Int) -> Tensor
    private var last: (view: Int, indices: [Int], rows: [[CachedValues]])?

    init(runner: TeacherRunner, input: @escaping (_ indices: [Int], _ view: Int) -> Tensor) {
        self.runner = runner
        self.input = input
    }

    func rows(of group: any CacheGroup, view: Int, indices: [Int]) throws -> [CachedValues] {
        if last == nil || last!.view != view || last!.indices != indices {
            last = (view, indices, runner.rows(input(indices, view)))
        }
        guard let position = runner.schema.groups.firstIndex(where: { $0.name == group.name }) else {
            throw ConfigError(file: "the online teacher", message: "computes no \(group.name): add it to the cache settings")
        }
        return last!.rows[position]
    }
}

/// The teacher's rows for one student batch, each group read once however many terms use it.
public final class TeacherRows {
    let source: any TeacherTargets
    /// The cached view the batch reads.
    public let view: Int
    /// The images of the batch.
    public let indices: [Int]
    private var read: [String: [CachedValues]] = [:]

    init(source: any TeacherTargets, view: Int, indices: [Int]) {
        self.source = source
        self.view = view
        self.indices = indices
    }

    /// The rows of every dataset of `group` for this batch.
    public func values(_ group: any CacheGroup) throws -> [CachedValues] {
        if let values = read[group.name] { return values }
        let values = try source.rows(of: group, view: view, indices: indices)
        read[group.name] = values
        return values
    }

    /// `[n, K]` teacher logits (from all logits or the top k).
    public func logits(_ group: any LogitsGroup) throws -> Tensor { group.logits(try values(group), count: indices.count) }

    /// The teacher's predicted class of each image.
    public func predictedClasses(_ group: any LogitsGroup) throws -> [Int] { group.predictedClasses(try values(group), count: indices.count) }
}
