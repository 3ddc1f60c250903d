// `kd inspect` and `kd data` end to end: the built executable on real files in a temporary folder.
import Datasets
import Foundation
import HDF5
import ImageIO
import Pipeline
import Testing
import TestSupport

@Suite struct InspectTests {
    let folder = TemporaryFolder()
    let kd = Repository.products + "/kd"

    func packed() throws -> String {
        let path = folder.file("small.h5")
        let writer = try PackedWriter(path: path, count: 12, height: 6, width: 6, channels: 1,
                                      classNames: ["T-shirt/top", "Bag"], attributes: ["source": "test"],
                                      options: PackOptions(chunkRows: 4, gzip: 4))
        try writer.append(pixels: (0..<(12 * 36)).map { UInt8($0 % 251) }, labels: (0..<12).map { Int32($0 % 2) })
        try writer.finish()
        return path
    }

    @Test func treeShowsShapesTypesStorageAndAttributes() throws {
        let path = try packed()
        let file = try HDF5File.open(path, mode: .readWrite)
        try file.createDataset("features/layer1", values: [Float16](repeating: 1, count: 24), shape: [12, 2], storage: .rows(6, shuffle: true, gzip: 4))
        try file.setAttribute("config", String(repeating: "x", count: 500))
        try file.flush()
        let tree = try Inspector.tree(of: path)
        #expect(tree.contains("images  [12,6,6,1] uint8  chunks [4,6,6,1]  gzip(4)"))
        #expect(tree.contains("labels  [12] int32"))
        #expect(tree.contains("features/"))
        #expect(tree.contains("layer1  [12,2] float16  chunks [6,2]  shuffle+gzip(4)"))
        #expect(tree.contains("@classes = [\"T-shirt/top\", \"Bag\"]"))
        #expect(tree.contains("(500 characters)"))
        #expect(tree.contains("ratio"))
    }

    @Test func rowsArePrintedWholeOrSummarised() throws {
        let path = try packed()
        let labels = try Inspector.rows(of: path, dataset: "labels", rows: 2..<5)
        #expect(labels.contains("2: 0") && labels.contains("3: 1") && labels.contains("4: 0"))
        let images = try Inspector.rows(of: path, dataset: "images", rows: 0..<1)
        #expect(images.contains("0: [6,6,1] min 0 max 35 mean 17.5"))
    }

    @Test func imageGridIsAPictureOfTheRows() throws {
        let path = try packed()
        let output = folder.file("grid.png")
        #expect(try Inspector.imageGrid(of: path, rows: 0..<12, output: output) == 12)
        let picture = try PNG.read(file: output)
        // 10 columns of 48-pixel tiles (6 pixels scaled 8x) with 4-pixel gaps, two rows.
        #expect(picture.width == 10 * (48 + 4) + 4)
        #expect(picture.channels == 1)
        // The top-left tile is image 0 scaled up: its pixel (0,0) is 0, its pixel (5,5) is 35.
        #expect(picture[4, 4, 0] == 0 && picture[4 + 5 * 8, 4 + 5 * 8, 0] == 35)
    }

    @Test func cliImportsInspectsAndExports() throws {
        guard FileManager.default.isExecutableFile(atPath: kd) else {
            Issue.record("kd is not built at \(kd)")
            return
        }
        let output = folder.file("fm")
        let imported = try run(kd, ["data", "fashion-mnist", "--output", output])
        #expect(imported.status == 0, "\(imported.error)")
        #expect(imported.output.contains("60000 images of 28x28x1"))
        #expect(imported.output.contains("Ankle boot 1000"))

        let inspected = try run(kd, ["inspect", output + "/train.h5"])
        #expect(inspected.status == 0)
        #expect(inspected.output.contains("images  [60000,28,28,1] uint8"))
        #expect(inspected.output.contains("labels  [60000] int32"))

        let rows = try run(kd, ["inspect", output + "/test.h5", "--dataset", "labels", "--rows", "0:3"])
        #expect(rows.output.contains("0: 9") && rows.output.contains("1: 2") && rows.output.contains("2: 1"))

        let png = folder.file("look.png")
        let drawn = try run(kd, ["inspect", output + "/test.h5", "--rows", "0:20", "--png", png])
        #expect(drawn.status == 0)
        #expect(try PNG.header(file: png).width > 0)

        let exported = try run(kd, ["data", "export-png", output + "/test.h5", "--output", folder.file("pngs"), "--rows", "0:50"])
        #expect(exported.status == 0, "\(exported.error)")
        let described = try run(kd, ["data", "describe", folder.file("pngs")])
        #expect(described.output.contains("50 images of 28x28x1"))
        #expect(described.output.contains("T-shirt/top 3, Trouser 7"), "\(described.output)")
    }

    @Test func cliErrorsNameTheFile() throws {
        guard FileManager.default.isExecutableFile(atPath: kd) else {
            Issue.record("kd is not built at \(kd)")
            return
        }
        let path = try packed()
        let missing = try run(kd, ["inspect", path, "--dataset", "logits"])
        #expect(missing.status != 0)
        #expect(missing.error.contains(path) && missing.error.contains("/logits") && missing.error.contains("no such dataset"))
        let notThere = try run(kd, ["inspect", folder.file("nothing.h5")])
        #expect(notThere.status != 0 && notThere.error.contains("nothing.h5"))
        let badRows = try run(kd, ["inspect", path, "--dataset", "labels", "--rows", "5"])
        #expect(badRows.status != 0 && badRows.error.contains("--rows"))
    }
}
