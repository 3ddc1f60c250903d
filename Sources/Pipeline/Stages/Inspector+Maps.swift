// Pictures of what a cache holds: each image beside its teacher attention map (a heat map, as in
// the attention-transfer paper's figures) or beside the firing rate of its activation boundaries.
import Foundation
import HDF5
import ImageIO

extension Inspector {
    /// What to draw beside each image.
    public enum MapKind: Sendable { case attention, boundary }

    /// Draws rows `rows` of view `view`: the cached image, then the map of `layer` scaled to the
    /// image's size (attention normalised to its maximum; boundary: the share of channels firing at
    /// each position). Writes a PNG; returns the number of images.
    @discardableResult
    public static func mapPicture(of path: String, kind: MapKind, layer: String, rows: Range<Int>, view: Int = 0,
                                  output: String) throws -> Int {
        let file = try HDF5File.open(path)
        let group = (kind == .attention ? "attention/" : "boundary/") + layer
        let info = try file.info(group)
        let images = try file.info("images")
        let clipped = rows.clamped(to: 0..<images.shape[0])
        guard !clipped.isEmpty else { throw HDF5Error(file: path, object: group, message: "no rows in \(rows)") }
        guard view >= 0 && view < info.shape[0] else {
            throw HDF5Error(file: path, object: group, message: "view \(view) outside 0..<\(info.shape[0])")
        }
        let (h, w, c) = (images.shape[1], images.shape[2], images.shape[3])
        let pixels = try file.dataset("images", as: UInt8.self).read(rows: clipped)
        let rowLength = info.shape[2]
        var maps: [[Float]] = []
        var (mapHeight, mapWidth) = (0, 0)
        switch kind {
        case .attention:
            let dataset = try file.dataset(group, as: Float.self)
            let side = Int(Double(rowLength).squareRoot())
            mapHeight = try dataset.hasAttribute("height") ? Int(try dataset.attribute("height").intValue ?? 1) : side
            mapWidth = try dataset.hasAttribute("width") ? Int(try dataset.attribute("width").intValue ?? 1) : rowLength / Swift.max(1, side)
            let values = try dataset.read(offset: [view, clipped.lowerBound, 0], count: [1, clipped.count, rowLength])
            maps = (0..<clipped.count).map { Array(values[($0 * rowLength)..<(($0 + 1) * rowLength)]) }
        case .boundary:
            let bits = try file.dataset(group, as: UInt8.self)
            let channels = Int(try bits.attribute("C").intValue ?? 1)
            mapHeight = Int(try bits.attribute("H").intValue ?? 1)
            mapWidth = Int(try bits.attribute("W").intValue ?? 1)
            let packed = try bits.read(offset: [view, clipped.lowerBound, 0], count: [1, clipped.count, rowLength])
            maps = packed.withUnsafeBufferPointer { packed in
                (0..<clipped.count).map { image in
                    (0..<(mapHeight * mapWidth)).map { position in
                        let firing = (0..<channels).filter { BitPacking.isSet(packed, image * rowLength, $0 * mapHeight * mapWidth + position) }.count
                        return Float(firing) / Float(channels)
                    }
                }
            }
        }
        let tiles = (0..<clipped.count).map { index -> Image in
            var tile = Image(width: 2 * w + 2, height: h, channels: 3)
            let peak = kind == .attention ? Swift.max(maps[index].max() ?? 1, 1e-12) : 1
            for y in 0..<h {
                for x in 0..<w {
                    for channel in 0..<3 { tile[y, x, channel] = pixels[((index * h + y) * w + x) * c + (c == 3 ? channel : 0)] }
                    let value = maps[index][(y * mapHeight / h) * mapWidth + x * mapWidth / w] / peak
                    let (r, g, b) = heat(value)
                    (tile[y, w + 2 + x, 0], tile[y, w + 2 + x, 1], tile[y, w + 2 + x, 2]) = (r, g, b)
                }
            }
            return tile
        }
        try PNG.write(grid(tiles, captions: clipped.map(String.init)), to: output)
        return tiles.count
    }

    /// A black-red-yellow-white heat colour for `t` in [0, 1].
    static func heat(_ t: Float) -> (UInt8, UInt8, UInt8) {
        let v = Swift.min(Swift.max(t, 0), 1) * 3
        let r = Swift.min(v, 1), g = Swift.min(Swift.max(v - 1, 0), 1), b = Swift.min(Swift.max(v - 2, 0), 1)
        return (UInt8(r * 255), UInt8(g * 255), UInt8(b * 255))
    }
}
