// `kd inspect`: print the layout of any HDF5 file, some rows of a dataset, or draw image rows.
import ArgumentParser
import Foundation
import HDF5
import Pipeline

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an HDF5 file: its tree (shapes, types, chunks, filters, bytes, attributes), rows, or a picture.")

    @Argument(help: "The HDF5 file.") var file: String
    @Option(help: "A dataset whose rows to print or draw.") var dataset: String?
    @Option(help: "Rows A:B of that dataset (end exclusive).") var rows = "0:8"
    @Option(help: "Draw the rows of an image dataset (default: images) as a labelled grid into this PNG.") var png: String?
    @Option(help: "With --png on a cache: each image beside its attention map for this layer.") var attention: String?
    @Option(help: "With --png on a cache: each image beside the firing rate of this layer's boundary bits.") var boundary: String?
    @Option(help: "The cached view to draw (0: the image itself).") var view = 0

    func run() throws {
        if let png, let layer = attention ?? boundary {
            let count = try HDF5File.open(file).info("images").shape[0]
            let drawn = try Inspector.mapPicture(of: file, kind: attention != nil ? .attention : .boundary, layer: layer,
                                                 rows: try parseRows(rows, count: count), view: view, output: png)
            print("wrote \(png): \(drawn) images beside their \(attention != nil ? "attention maps" : "boundary firing rates") of \(layer)")
        } else if let png {
            let name = dataset ?? "images"
            let count = try HDF5File.open(file).info(name).shape.first ?? 0
            let tiles = try Inspector.imageGrid(of: file, dataset: name, rows: try parseRows(rows, count: count), output: png)
            print("wrote \(png): \(tiles) images of \(name)")
        } else if let dataset {
            let count = try HDF5File.open(file).info(dataset).shape.first ?? 1
            print(try Inspector.rows(of: file, dataset: dataset, rows: try parseRows(rows, count: count)))
        } else {
            print(try Inspector.tree(of: file))
        }
    }
}
