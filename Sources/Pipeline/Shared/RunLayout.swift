// Every path of a run, built in one place: `runs/<name>/` holds the teacher, the cache, each
// student's seeds (and their init stages) and the report; a run folder holds a training stage's
// checkpoints, metrics, TensorBoard events, summary and lock.
import Foundation

/// The files of one pipeline run, under `runs/<name>/`.
public struct RunLayout: Sendable {
    /// `runs/<name>`.
    public let root: String

    /// The cache file: `runs/<name>/cache.h5`, or the foreign cache `cache.external` names.
    public let cache: String

    /// The layout of `config`'s run.
    public init(_ config: PipelineConfig) {
        root = "runs/\(config.name)"
        cache = config.cache?.external ?? root + "/cache.h5"
    }

    /// The teacher's training folder.
    public var teacher: RunFolder { RunFolder(root + "/teacher") }
    /// The lock one precompute holds exclusively while writing the cache and students share while reading it.
    public var cacheLock: String { cache + ".lock" }
    /// The report's markdown table.
    public var reportMarkdown: String { root + "/report.md" }
    /// The same numbers as JSON.
    public var reportJSON: String { root + "/report.json" }
    /// The SVG chart of test accuracy per epoch.
    public var chart: String { root + "/accuracy.svg" }

    /// The main stage of one seed of a student (`students/`, or `online/` with the live teacher).
    public func student(_ name: String, seed: UInt64, online: Bool = false) -> RunFolder {
        RunFolder(root + (online ? "/online/" : "/students/") + "\(name)/seed\(seed)")
    }

    /// The checkpoint a cache is made from.
    public func teacherCheckpoint(_ choice: TeacherCheckpoint) -> String {
        switch choice {
        case .last: teacher.last
        case .best: teacher.best
        case .path(let path): path
        }
    }
}

/// One training stage's folder: checkpoints, metrics, events, summary, lock.
public struct RunFolder: Sendable {
    /// The folder.
    public let path: String

    /// The folder at `path`.
    public init(_ path: String) { self.path = path }

    /// The checkpoint of the last finished epoch (with optimiser state, for resuming).
    public var last: String { path + "/last.h5" }
    /// The checkpoint of the best test accuracy so far.
    public var best: String { path + "/best.h5" }
    /// One JSON object per epoch.
    public var metrics: String { path + "/metrics.jsonl" }
    /// TensorBoard's event file.
    public var events: String { path + "/events.out.tfevents.kd" }
    /// A finished student seed's numbers for the report.
    public var summary: String { path + "/summary.json" }
    /// Why a student seed stopped before its last epoch.
    public var stopped: String { path + "/stopped.json" }
    /// Held by the one process training here.
    public var lock: String { path + "/.lock" }
    /// A student's initialisation stage, before its main stage.
    public var initStage: RunFolder { RunFolder(path + "/init") }
}
