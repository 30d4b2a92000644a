// PixelFont: frame numbers and short labels drawn straight into RGB pixels (contact sheets and GIF/MP4 frames
// of long samples), so the pictures carry their own text without a font library. Digits, '/', '.', '-', space
// and the few letters the labels use ("real", "s0 21.3dB", "inf", "t", "p"/"g" for primed/generated) on a 3×5
// grid, each pixel an s×s square at scale s, one empty column between glyphs. Every glyph's mask is distinct,
// so a test can read text back; the space is the one empty glyph.

public enum PixelFont {
    public static let glyphWidth = 3, glyphHeight = 5

    /// Rows top to bottom, '#' set.
    static let glyphs: [Character: [String]] = [
        "0": ["###", "#.#", "#.#", "#.#", "###"],
        "1": [".#.", "##.", ".#.", ".#.", "###"],
        "2": ["###", "..#", "###", "#..", "###"],
        "3": ["###", "..#", ".##", "..#", "###"],
        "4": ["#.#", "#.#", "###", "..#", "..#"],
        "5": ["###", "#..", "###", "..#", "###"],
        "6": ["###", "#..", "###", "#.#", "###"],
        "7": ["###", "..#", ".#.", ".#.", ".#."],
        "8": ["###", "#.#", "###", "#.#", "###"],
        "9": ["###", "#.#", "###", "..#", "###"],
        "/": ["..#", "..#", ".#.", "#..", "#.."],
        ".": ["...", "...", "...", "...", ".#."],
        "-": ["...", "...", "###", "...", "..."],
        " ": ["...", "...", "...", "...", "..."],
        "a": ["...", ".##", "#.#", "#.#", ".##"],
        "B": ["##.", "#.#", "##.", "#.#", "##."],
        "d": ["..#", ".##", "#.#", "#.#", ".##"],
        "e": ["...", ".#.", "###", "#..", ".##"],
        "f": ["..#", ".#.", "###", ".#.", ".#."],
        "g": [".##", "#..", "#.#", "#.#", ".##"],
        "i": [".#.", "...", ".#.", ".#.", ".#."],
        "l": ["#..", "#..", "#..", "#..", ".##"],
        "n": ["...", "##.", "#.#", "#.#", "#.#"],
        "p": ["...", "##.", "#.#", "##.", "#.."],
        "r": ["...", "#.#", "##.", "#..", "#.."],
        "s": [".##", "#..", ".#.", "..#", "##."],
        "t": [".#.", "###", ".#.", ".#.", ".##"],
    ]

    public static let characters = Set(glyphs.keys)

    /// Width in pixels of `text` at `scale` (glyphs and the one-column spaces between them).
    public static func width(_ text: String, scale: Int) -> Int {
        text.isEmpty ? 0 : (text.count * (glyphWidth + 1) - 1) * scale
    }

    public static func height(scale: Int) -> Int { glyphHeight * scale }

    /// The set pixels of `text` at scale 1: mask[row][column], `height(scale: 1)` rows of `width(text, scale: 1)`.
    public static func mask(_ text: String) -> [[Bool]] {
        var rows = [[Bool]](repeating: [Bool](repeating: false, count: width(text, scale: 1)), count: glyphHeight)
        for (index, character) in text.enumerated() {
            guard let glyph = glyphs[character] else { preconditionFailure("PixelFont: no glyph for \(character)") }
            for (y, line) in glyph.enumerated() {
                for (x, cell) in line.enumerated() where cell == "#" { rows[y][index * (glyphWidth + 1) + x] = true }
            }
        }
        return rows
    }

    /// Draws `text` with its top-left corner at (x, y) into an RGB image `imageWidth` pixels wide; only the set
    /// pixels are written, and pixels outside the image are left out.
    public static func draw(_ text: String, x: Int, y: Int, scale: Int, color: (UInt8, UInt8, UInt8),
                            into image: inout [UInt8], imageWidth: Int) {
        let imageHeight = image.count / (imageWidth * 3)
        for (row, line) in mask(text).enumerated() {
            for (column, set) in line.enumerated() where set {
                for dy in 0..<scale {
                    for dx in 0..<scale {
                        let px = x + column * scale + dx, py = y + row * scale + dy
                        guard (0..<imageWidth).contains(px), (0..<imageHeight).contains(py) else { continue }
                        let offset = (py * imageWidth + px) * 3
                        image[offset] = color.0; image[offset + 1] = color.1; image[offset + 2] = color.2
                    }
                }
            }
        }
    }

    /// Reads back text drawn in `color` at (x, y) at `scale` in an RGB image, glyph cell by glyph cell: an empty
    /// cell is a space, two empty cells (or the image's edge) end the text; nil if a cell matches no glyph.
    /// Pixels of other colours count as unset, so text of another colour next to it is not read.
    public static func read(_ image: [UInt8], imageWidth: Int, x: Int, y: Int, scale: Int, color: (UInt8, UInt8, UInt8)) -> String? {
        let imageHeight = image.count / (imageWidth * 3)
        func set(_ px: Int, _ py: Int) -> Bool {
            guard (0..<imageWidth).contains(px), (0..<imageHeight).contains(py) else { return false }
            let o = (py * imageWidth + px) * 3
            return image[o] == color.0 && image[o + 1] == color.1 && image[o + 2] == color.2
        }
        var text = "", left = x, empty = 0
        while left + glyphWidth * scale <= imageWidth && empty < 2 {
            let cell = (0..<glyphHeight).map { row in (0..<glyphWidth).map { column in set(left + column * scale, y + row * scale) } }
            guard let glyph = characters.first(where: { mask(String($0)) == cell }) else { return nil }
            empty = glyph == " " ? empty + 1 : 0
            text.append(glyph)
            left += (glyphWidth + 1) * scale
        }
        while text.last == " " { text.removeLast() }
        return text
    }
}
