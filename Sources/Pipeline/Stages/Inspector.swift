// `kd inspect`: the layout of any HDF5 file, the values of some rows, and image rows as a grid.
import Foundation
import HDF5
import ImageIO

/// Readable views of HDF5 files for people: the tree, row values, and pictures.
public enum Inspector {
    /// What `kd inspect` asks for: the tree (no options), rows `rows` (`A:B`) of `dataset`, or a
    /// picture into `png` of image rows, or of cache rows beside the attention map (`attention`)
    /// or boundary firing rates (`boundary`) of a layer in view `view`. Returns what to print.
    public static func run(file: String, dataset: String?, rows: String, png: String?, attention: String?, boundary: String?,
                           view: Int) throws -> String {
        if let png, let layer = attention ?? boundary {
            let count = try HDF5File.open(file).info("images").shape[0]
            let drawn = try mapPicture(of: file, kind: attention != nil ? .attention : .boundary, layer: layer,
                                       rows: try RowRange.parse(rows, count: count), view: view, output: png)
            return "wrote \(png): \(drawn) images beside their \(attention != nil ? "attention maps" : "boundary firing rates") of \(layer)"
        }
        if let png {
            let name = dataset ?? "images"
            let count = try HDF5File.open(file).info(name).shape.first ?? 0
            return "wrote \(png): \(try imageGrid(of: file, dataset: name, rows: try RowRange.parse(rows, count: count), output: png)) images of \(name)"
        }
        if let dataset {
            let count = try HDF5File.open(file).info(dataset).shape.first ?? 1
            return try self.rows(of: file, dataset: dataset, rows: try RowRange.parse(rows, count: count))
        }
        return try tree(of: file)
    }

    /// The tree of `path`: every group and dataset with shape, type, chunks, filters, bytes on
    /// disk and compression ratio, and every attribute (long values shortened).
    public static func tree(of path: String) throws -> String {
        let file = try HDF5File.open(path)
        let size = (try? fileBytes(path)) ?? 0
        var lines = ["\(path)  (\(formatBytes(size)))"]
        for entry in try file.walk() {
            let depth = entry.path == "/" ? 0 : entry.path.split(separator: "/").count
            let indent = String(repeating: "  ", count: depth)
            let name = entry.path == "/" ? "/" : String(entry.path.split(separator: "/").last!)
            switch entry.kind {
            case .group:
                lines.append(indent + (entry.path == "/" ? "/" : name + "/"))
            case .dataset(let info):
                lines.append(indent + name + "  " + describe(info))
            }
            for (key, value) in entry.attributes {
                lines.append(indent + "    @\(key) = \(shorten(value))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One line for a dataset: `[60000,28,28,1] uint8  chunks [64,28,28,1]  gzip(4)  45.0 MiB on disk (ratio 2.10)`.
    public static func describe(_ info: DatasetInfo) -> String {
        var parts = ["[" + info.shape.map(String.init).joined(separator: ",") + "] " + info.typeName]
        if info.maxShape.contains(where: { $0 == nil }) { parts.append("extendible") }
        if !info.virtualFiles.isEmpty {
            let files = Set(info.virtualFiles)
            parts.append("virtual over \(files.count == 1 ? files.first! : "\(files.count) files")")
        } else if let chunks = info.chunks {
            parts.append("chunks [" + chunks.map(String.init).joined(separator: ",") + "]")
        } else {
            parts.append("contiguous")
        }
        if !info.filters.isEmpty { parts.append(info.filters.joined(separator: "+")) }
        var stored = formatBytes(info.storedBytes) + " on disk"
        if info.storedBytes > 0 && info.logicalBytes != info.storedBytes {
            stored += String(format: " (ratio %.2f)", Double(info.logicalBytes) / Double(info.storedBytes))
        }
        parts.append(stored)
        return parts.joined(separator: "  ")
    }

    /// An attribute on one line; a long string (a whole configuration) is cut, with its length.
    private static func shorten(_ value: AttributeValue, limit: Int = 120) -> String {
        if case .string(let text) = value, text.count > limit {
            let oneLine = text.prefix(limit).replacingOccurrences(of: "\n", with: "\\n")
            return "\"\(oneLine)…\" (\(text.count) characters)"
        }
        let text = value.description.replacingOccurrences(of: "\n", with: "\\n")
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// The values of rows `rows` of dataset `name`: whole rows when short, otherwise a summary
    /// (shape, min, max, mean, the first values) per row.
    public static func rows(of path: String, dataset name: String, rows: Range<Int>) throws -> String {
        let file = try HDF5File.open(path)
        let info = try file.info(name)
        guard let type = info.elementType else {
            throw HDF5Error(file: path, object: name, message: "holds \(info.typeName); only numeric datasets can be printed")
        }
        let rowShape = Array(info.shape.dropFirst())
        let clipped = rows.clamped(to: 0..<(info.shape.first ?? 1))
        let values: [Double]
        if type.isFloat {
            values = try file.dataset(name, as: Double.self).read(rows: clipped)
        } else {
            values = try file.dataset(name, as: Int64.self).read(rows: clipped).map(Double.init)
        }
        let rowLength = max(1, rowShape.reduce(1, *))
        var lines = ["\(name)  " + describe(info) + "  rows \(clipped.lowerBound)..<\(clipped.upperBound)"]
        for (offset, row) in clipped.enumerated() {
            let slice = values[(offset * rowLength)..<((offset + 1) * rowLength)]
            let text = { (value: Double) in type.isFloat ? String(format: "%.6g", value) : String(Int64(value)) }
            if rowLength <= 16 {
                lines.append("\(row): " + (rowShape.isEmpty ? "" : "[") + slice.map(text).joined(separator: ", ") + (rowShape.isEmpty ? "" : "]"))
            } else {
                let mean = slice.reduce(0, +) / Double(slice.count)
                let nonzero = slice.filter { $0 != 0 }.count
                lines.append("\(row): [\(rowShape.map(String.init).joined(separator: ","))] min \(text(slice.min()!)) "
                             + "max \(text(slice.max()!)) mean \(String(format: "%.4g", mean)) nonzero \(nonzero)/\(slice.count); "
                             + "first: " + slice.prefix(8).map(text).joined(separator: ", ") + ", …")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Draws rows `rows` of the uint8 image dataset `name` (`[N,H,W]` or `[N,H,W,C]`, C 1 or 3)
    /// as a grid, each tile captioned with its row and, when the file has `labels` and `classes`,
    /// its class name. Writes a PNG to `output`; returns the number of tiles.
    @discardableResult
    public static func imageGrid(of path: String, dataset name: String = "images", rows: Range<Int>,
                                 output: String) throws -> Int {
        let file = try HDF5File.open(path)
        let info = try file.info(name)
        guard info.elementType == .uint8, info.shape.count == 3 || info.shape.count == 4,
              info.shape.count == 3 || [1, 3].contains(info.shape[3]) else {
            throw HDF5Error(file: path, object: name,
                            message: "is [\(info.shape.map(String.init).joined(separator: ","))] \(info.typeName); "
                            + "a picture needs uint8 images [N,H,W] or [N,H,W,C] with C 1 or 3")
        }
        let clipped = rows.clamped(to: 0..<info.shape[0])
        guard !clipped.isEmpty else { throw HDF5Error(file: path, object: name, message: "no rows in \(rows)") }
        let pixels = try file.dataset(name, as: UInt8.self).read(rows: clipped)
        let (height, width) = (info.shape[1], info.shape[2])
        let channels = info.shape.count == 4 ? info.shape[3] : 1
        let captions = try captionsFor(file, rows: clipped)
        let tiles = (0..<clipped.count).map { index in
            Image(width: width, height: height, channels: channels,
                  pixels: Array(pixels[(index * height * width * channels)..<((index + 1) * height * width * channels)]))
        }
        try PNG.write(grid(tiles, captions: captions), to: output)
        return tiles.count
    }

    private static func captionsFor(_ file: HDF5File, rows: Range<Int>) throws -> [String] {
        guard try file.contains("labels"), try file.hasAttribute("classes"),
              let classes = try file.attribute("classes").stringsValue else {
            return rows.map(String.init)
        }
        let labels = try file.dataset("labels", as: Int64.self).read(rows: rows)
        return zip(rows, labels).map { row, label in
            "\(row) " + (label >= 0 && Int(label) < classes.count ? classes[Int(label)] : "\(label)")
        }
    }

    /// Lays images out in a grid of up to 10 columns, scaled up to at least 48 pixels, with a
    /// caption under each.
    public static func grid(_ tiles: [Image], captions: [String]) -> Image {
        let first = tiles[0]
        let scale = max(1, 48 / max(1, min(first.width, first.height)))
        let fontScale = first.width * scale >= 56 ? 2 : 1
        let (tileWidth, tileHeight) = (first.width * scale, first.height * scale)
        let captionHeight = PixelFont.glyphHeight * fontScale + 4
        let gap = 4
        let columns = min(10, tiles.count)
        let gridRows = (tiles.count + columns - 1) / columns
        let width = columns * (tileWidth + gap) + gap
        let height = gridRows * (tileHeight + captionHeight + gap) + gap
        var grey = [UInt8](repeating: 40, count: width * height)
        var colour = first.channels == 3 ? [UInt8](repeating: 40, count: width * height * 3) : []
        var captionMask = [UInt8](repeating: 0, count: width * height)
        for (index, tile) in tiles.enumerated() {
            let left = gap + (index % columns) * (tileWidth + gap)
            let top = gap + (index / columns) * (tileHeight + captionHeight + gap)
            for y in 0..<tileHeight {
                for x in 0..<tileWidth {
                    let (sy, sx) = (y / scale, x / scale)
                    let at = (top + y) * width + left + x
                    if tile.channels == 3 {
                        for c in 0..<3 { colour[at * 3 + c] = tile[sy, sx, c] }
                    } else {
                        grey[at] = tile[sy, sx, 0]
                    }
                }
            }
            PixelFont.draw(captions[index], into: &captionMask, stride: width, x: left, y: top + tileHeight + 2,
                           maxX: left + tileWidth, scale: fontScale)
        }
        for at in captionMask.indices where captionMask[at] != 0 {
            if first.channels == 3 { for c in 0..<3 { colour[at * 3 + c] = 255 } } else { grey[at] = 255 }
        }
        return first.channels == 3 ? Image(width: width, height: height, channels: 3, pixels: colour)
                                    : Image(width: width, height: height, channels: 1, pixels: grey)
    }
}
