// `kd inspect`: any HDF5 file the pipeline writes, for people.
import ArgumentParser
import Pipeline

/// `kd inspect`: the tree, rows or pictures of an HDF5 file.
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
        print(try Inspector.run(file: file, dataset: dataset, rows: rows, png: png, attention: attention, boundary: boundary, view: view))
    }
}
