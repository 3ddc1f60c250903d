// Every pipeline file the repository ships parses, and its students' methods fit its teacher and
// cache settings: a misspelled key or a layer pair that does not exist fails here, not hours into
// a `make distill`. The datasets are stand-ins of the shape each pipeline's images have.
import Datasets
import Foundation
import Pipeline
import Testing
import TestSupport

@Suite struct ShippedPipelineTests {
    /// The image shape `[height, width, channels]` of each shipped pipeline's data; a new pipeline
    /// file must be added here (the test below fails on one it does not know).
    static let imageShapes: [String: [Int]] = [
        "fashion-mnist.yaml": [28, 28, 1], "fashion-mnist-topk.yaml": [28, 28, 1],
        "fashion-mnist-pytorch.yaml": [28, 28, 1], "fashion-mnist-external.yaml": [28, 28, 1],
        "cifar10.yaml": [32, 32, 3],
    ]

    @Test func everyPipelineFileParsesAndItsPlanValidates() throws {
        let folder = Repository.root + "/pipelines"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("cifar10.yaml") && files.contains("fashion-mnist.yaml"))
        let scratch = try TemporaryFolder()
        for file in files {
            let shape = try #require(Self.imageShapes[file], "pipelines/\(file) is not in ShippedPipelineTests.imageShapes")
            var (config, _) = try PipelineConfig.load(folder + "/" + file)
            guard case .trained = config.teacherSource else {
                // A foreign cache's groups are its file's: validated when it exists (ForeignCacheTests).
                continue
            }
            let images = scratch.file("\(file).h5")
            let writer = try PackedWriter(path: images, count: 10, height: shape[0], width: shape[1], channels: shape[2],
                                          classNames: shape[2] == 3 ? ClassNames.cifar10 : ClassNames.fashionMNIST)
            try writer.append(pixels: [UInt8](repeating: 7, count: 10 * shape.reduce(1, *)), labels: Array(0..<10))
            try writer.finish()
            config.data.train = images
            #expect(throws: Never.self, "pipelines/\(file)") { try DistillStage.validatePlan(config) }
        }
    }
}
