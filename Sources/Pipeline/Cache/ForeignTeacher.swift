// A cache written by another program for a teacher kd does not have (scripts/precompute_pytorch.py):
// what it records about that teacher, every required root attribute checked by name on opening,
// and the teacher's test-set predictions when it measured them.
import Datasets
import Foundation
import HDF5

/// The external teacher of a foreign cache, as the cache's root attributes describe it.
struct ForeignTeacher {
    /// The root attributes a foreign cache must have: those kd's own caches have that say what its
    /// rows are (dataset, views, settings, normalisation), and the two that mark it foreign.
    static let requiredAttributes = ["schema_version", "teacher_source", "teacher_description", "teacher_sha256", "dataset_fingerprint",
                                     "dataset_path", "num_samples", "num_views", "classes", "input_mean", "input_std", "cache_config"]
    /// The value of `teacher_source` that marks a foreign cache.
    static let marker = "external"

    /// What the teacher is (`TinyTeacher from tiny_teacher.py:make_teacher`).
    let description: String
    /// SHA-256 of its weights file.
    let sha256: String
    /// Its parameter count, when recorded (`teacher_parameters`).
    let parameters: Int?
    /// Its test accuracy in 0...1, when measured (`teacher_test_accuracy`).
    let testAccuracy: Double?
    /// The program that wrote the cache (`tool_version`).
    let writer: String

    /// Whether `file` is a foreign cache (root attribute `teacher_source = "external"`).
    static func isForeign(_ file: HDF5File) throws -> Bool {
        try file.hasAttribute("teacher_source") && (try file.attribute("teacher_source").stringValue) == marker
    }

    /// The teacher `file` records; a missing required attribute, or a cache not marked foreign, is an error naming it.
    init(file: HDF5File) throws {
        for key in Self.requiredAttributes where !(try file.hasAttribute(key)) {
            throw HDF5Error(file: file.filePath, object: "/", message: "has no '\(key)' attribute; a foreign cache needs \(Self.requiredAttributes.joined(separator: ", ")) (scripts/precompute_pytorch.py writes them)")
        }
        let source = try file.attribute("teacher_source").stringValue ?? ""
        guard source == Self.marker else {
            throw HDF5Error(file: file.filePath, object: "/", message: "teacher_source is '\(source)', not '\(Self.marker)': it is not a foreign cache (name a kd cache with the pipeline's teacher and cache.teacher_checkpoint)")
        }
        func text(_ key: String) throws -> String {
            guard let value = try file.attribute(key).stringValue else {
                throw HDF5Error(file: file.filePath, object: "/", message: "attribute '\(key)' is not text")
            }
            return value
        }
        description = try text("teacher_description")
        sha256 = try text("teacher_sha256")
        parameters = try file.hasAttribute("teacher_parameters") ? (try file.attribute("teacher_parameters").intValue).map(Int.init) : nil
        testAccuracy = try file.hasAttribute("teacher_test_accuracy") ? try file.attribute("teacher_test_accuracy").doubleValue : nil
        writer = try file.hasAttribute("tool_version") ? try text("tool_version") : "another program"
    }

    /// The teacher's class for each image of `test` (`teacher_test/predictions`), nil when the
    /// cache has none; predictions made on other test images than `test`'s are an error.
    static func testPredictions(in file: HDF5File, test: any ImageSource) throws -> [Int]? {
        guard try file.contains("teacher_test/predictions") else { return nil }
        let dataset = try file.dataset("teacher_test/predictions", as: Int32.self)
        let recorded = try dataset.hasAttribute("dataset_fingerprint") ? try dataset.attribute("dataset_fingerprint").stringValue : nil
        let fingerprint = try datasetFingerprint(test)
        guard recorded == fingerprint else {
            throw HDF5Error(file: file.filePath, object: "teacher_test/predictions",
                            message: "were made on other test images (dataset_fingerprint \(recorded?.prefix(16) ?? "none") here, \(fingerprint.prefix(16)) of \(test.path)): pass the pipeline's data.test to precompute_pytorch.py --test")
        }
        return try dataset.read().map(Int.init)
    }
}
