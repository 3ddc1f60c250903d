// A seeded, class-balanced split of one image source into two packed files (train and test), each
// in a seeded random order: CIFAR-10's shared file is sorted by class, which a block-shuffled
// reader must not see. The source is read whole, so it must fit in memory (CIFAR-10: 150 MB).
import Foundation
import HDF5

/// SplitMix64, for a split that any seed reproduces.
struct SplitGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Splits `source` into `testPerClass` images of every class for `testPath` and the rest for
/// `trainPath`, both shuffled with `seed`. Returns the two counts.
@discardableResult
public func splitByClass(_ source: any ImageSource, testPerClass: Int, seed: UInt64, trainPath: String, testPath: String,
                         options: PackOptions = PackOptions()) throws -> (train: Int, test: Int) {
    var generator = SplitGenerator(state: seed)
    var test: [Int] = [], train: [Int] = []
    for label in source.classNames.indices {
        var members = source.labels.indices.filter { Int(source.labels[$0]) == label }
        guard members.count >= testPerClass else {
            throw DatasetError(source.path, "class \(source.classNames[label]) has \(members.count) images, fewer than the \(testPerClass) asked for the test split")
        }
        members.shuffle(using: &generator)
        test += members.prefix(testPerClass)
        train += members.dropFirst(testPerClass)
    }
    train.shuffle(using: &generator)
    test.shuffle(using: &generator)
    // Read everything once, in order: random reads of compressed chunks would inflate a whole chunk per image.
    let all = try source.batch(0..<source.count)
    let size = source.height * source.width * source.channels
    for (path, indices, split) in [(trainPath, train, "train"), (testPath, test, "test")] {
        let writer = try PackedWriter(path: path, count: indices.count, height: source.height, width: source.width,
                                      channels: source.channels, classNames: source.classNames,
                                      attributes: ["source": .string(source.path), "split": .string("\(split): seed \(seed), \(testPerClass) test images per class")],
                                      options: options)
        for start in stride(from: 0, to: indices.count, by: 4096) {
            let chunk = indices[start..<min(indices.count, start + 4096)]
            try writer.append(pixels: chunk.flatMap { all.pixels[($0 * size)..<(($0 + 1) * size)] }, labels: chunk.map { all.labels[$0] })
        }
        try writer.finish()
    }
    return (train.count, test.count)
}
