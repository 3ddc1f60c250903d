// What makes two caches interchangeable: the same teacher checkpoint (its SHA-256), the same
// dataset (its fingerprint) and the same cache settings. Precompute reuses or refuses a cache by
// it, distill refuses a cache that no longer matches its pipeline. A foreign cache is held to its
// dataset alone: its teacher is not kd's and its settings are its own.
import Foundation
import HDF5

/// The identity of the cache a pipeline asks for, as the root attributes that record it.
struct CacheIdentity {
    /// nil for a foreign cache: kd has no checkpoint of its teacher to compare with.
    var teacherSHA256: String?
    var datasetFingerprint: String
    /// nil for a foreign cache, whose settings are the ones it records.
    var cacheConfig: String?

    /// The root attributes, by name (those compared).
    var attributes: [String: String] {
        ["teacher_sha256": teacherSHA256, "dataset_fingerprint": datasetFingerprint, "cache_config": cacheConfig].compactMapValues { $0 }
    }

    /// What differs in the cache `file`, in words, empty when it matches.
    func differences(in file: HDF5File) -> [String] {
        let what = ["teacher_sha256": "another teacher checkpoint", "dataset_fingerprint": "another dataset", "cache_config": "other cache settings"]
        return attributes.sorted { $0.key < $1.key }.compactMap { key, wanted in
            let stored = (try? file.attribute(key).stringValue) ?? "none"
            return stored == wanted ? nil : "\(what[key]!) (\(key) \(stored.prefix(70)) here, \(wanted.prefix(70)) now)"
        }
    }
}
