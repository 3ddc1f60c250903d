// A 3x5 pixel font for captions in image grids: digits, letters (as capitals) and a few signs.

/// Draws short captions into grey pixel buffers.
enum PixelFont {
    static let glyphWidth = 3, glyphHeight = 5

    /// Rows of each glyph, top to bottom, three bits each.
    private static let glyphs: [Character: [UInt8]] = {
        let table: [(Character, String)] = [
            ("0", "111 101 101 101 111"), ("1", "010 110 010 010 111"), ("2", "111 001 111 100 111"),
            ("3", "111 001 111 001 111"), ("4", "101 101 111 001 001"), ("5", "111 100 111 001 111"),
            ("6", "111 100 111 101 111"), ("7", "111 001 001 010 010"), ("8", "111 101 111 101 111"),
            ("9", "111 101 111 001 111"), ("A", "010 101 111 101 101"), ("B", "110 101 110 101 110"),
            ("C", "011 100 100 100 011"), ("D", "110 101 101 101 110"), ("E", "111 100 110 100 111"),
            ("F", "111 100 110 100 100"), ("G", "011 100 101 101 011"), ("H", "101 101 111 101 101"),
            ("I", "111 010 010 010 111"), ("J", "001 001 001 101 010"), ("K", "101 101 110 101 101"),
            ("L", "100 100 100 100 111"), ("M", "101 111 111 101 101"), ("N", "110 101 101 101 101"),
            ("O", "010 101 101 101 010"), ("P", "110 101 110 100 100"), ("Q", "010 101 101 110 011"),
            ("R", "110 101 110 101 101"), ("S", "011 100 010 001 110"), ("T", "111 010 010 010 010"),
            ("U", "101 101 101 101 111"), ("V", "101 101 101 101 010"), ("W", "101 101 111 111 101"),
            ("X", "101 101 010 101 101"), ("Y", "101 101 010 010 010"), ("Z", "111 001 010 100 111"),
            ("-", "000 000 111 000 000"), ("/", "001 001 010 100 100"), ("_", "000 000 000 000 111"),
            (".", "000 000 000 000 010"), (":", "000 010 000 010 000"), (" ", "000 000 000 000 000"),
            ("?", "111 001 011 000 010"),
        ]
        return Dictionary(uniqueKeysWithValues: table.map { character, rows in
            (character, rows.split(separator: " ").map { UInt8($0, radix: 2)! })
        })
    }()

    /// The width in pixels of `text` at `scale`, one blank column between glyphs.
    static func width(of text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * (glyphWidth + 1) - 1) * scale
    }

    /// Draws `text` with its top-left corner at (x, y) into a grey buffer of `stride` columns,
    /// clipping at `maxX`.
    static func draw(_ text: String, into pixels: inout [UInt8], stride: Int, x: Int, y: Int, maxX: Int,
                     scale: Int, value: UInt8 = 255) {
        var left = x
        for character in text.uppercased() {
            let rows = glyphs[character] ?? glyphs["?"]!
            for (row, bits) in rows.enumerated() {
                for column in 0..<glyphWidth where bits & (0b100 >> UInt8(column)) != 0 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let px = left + column * scale + dx
                            let py = y + row * scale + dy
                            if px < maxX && py * stride + px < pixels.count { pixels[py * stride + px] = value }
                        }
                    }
                }
            }
            left += (glyphWidth + 1) * scale
            if left >= maxX { return }
        }
    }
}
