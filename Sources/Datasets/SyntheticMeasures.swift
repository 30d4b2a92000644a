// SyntheticMeasures: what a frame or a video of the conditioned synthetic corpora (SyntheticVideos.swift)
// shows, measured on its pixels alone — so generated samples can be checked the same way as the corpus:
// does the gripper go where the given actions say, does the video look like the given class.
//
// - Gripper: the conditioned scenes paint the gripper's body flat magenta, centred on its position; no other
//   colour there comes close (objects leave out purple and pink, tables are never magenta). Each pixel's
//   magenta score is min(R, B) − G; above a threshold that nothing else reaches, the excess is its weight.
//   The position is the weighted centroid of the pixels in a window around the densest spot (so stray
//   magenta specks of a generated frame do not pull it), in pixel coordinates: x to the right, y down,
//   pixel (row i, column j) covering [j, j+1) × [i, i+1).
// - Class: the table covers most of every frame, so the per-channel median over a video's pixels is the
//   table's colour, lit. Lighting multiplies all channels alike (up to a ±6 % tint), so the median's
//   chromaticity (r, g) = (R, G) / (R + G + B) is the table's; the class is the nearest class table's.
//
// Both work on the classic corpus only as far as it has no marker or class: they are for the conditioned
// corpora. Not here: the scenes themselves (SyntheticVideos.swift).

public enum SyntheticMeasures {
    /// Magenta scores at or below this (out of 255) count as nothing.
    public static let magentaThreshold = 48
    /// The least total weight (score above the threshold, summed) a frame must show to have a gripper.
    public static let minimumMagentaWeight = 100

    /// Pixels per reference unit at this size (the shorter side is 64 units): multiply a simulator position
    /// (`endeffector_positions`, x and y) by it to compare with `gripperPosition`.
    public static func pixelsPerUnit(height: Int, width: Int) -> Double { Double(min(height, width)) / 64 }

    /// The gripper's position in one frame (UInt8 [height, width, 3]) in pixel coordinates, nil when the frame
    /// shows no magenta gripper.
    public static func gripperPosition(frame: UnsafePointer<UInt8>, height: Int, width: Int) -> (x: Double, y: Double)? {
        guard height >= 1, width >= 1 else { return nil }
        var weights = [Int](repeating: 0, count: height * width)
        var total = 0
        for pixel in 0..<(height * width) {
            let p = frame + 3 * pixel
            let score = min(Int(p[0]), Int(p[2])) - Int(p[1])
            if score > magentaThreshold {
                weights[pixel] = score - magentaThreshold
                total += weights[pixel]
            }
        }
        guard total >= minimumMagentaWeight else { return nil }
        // The window: the gripper's body is at most ~12 × 8 units; a radius of 7 units covers it.
        let radius = max(1, Int((7 * pixelsPerUnit(height: height, width: width)).rounded(.up)))
        // Densest spot: the pixel whose (2·radius+1)² window holds the most weight (summed-area table).
        var integral = [Int](repeating: 0, count: (height + 1) * (width + 1))
        for row in 0..<height {
            var line = 0
            for column in 0..<width {
                line += weights[row * width + column]
                integral[(row + 1) * (width + 1) + column + 1] = integral[row * (width + 1) + column + 1] + line
            }
        }
        func windowSum(_ row: Int, _ column: Int) -> Int {
            let top = max(row - radius, 0), bottom = min(row + radius + 1, height)
            let left = max(column - radius, 0), right = min(column + radius + 1, width)
            return integral[bottom * (width + 1) + right] - integral[top * (width + 1) + right]
                - integral[bottom * (width + 1) + left] + integral[top * (width + 1) + left]
        }
        var best = (sum: -1, row: 0, column: 0)
        for row in 0..<height {
            for column in 0..<width where weights[row * width + column] > 0 {
                let sum = windowSum(row, column)
                if sum > best.sum { best = (sum, row, column) }
            }
        }
        var sumX = 0.0, sumY = 0.0, sum = 0.0
        for row in max(best.row - radius, 0)..<min(best.row + radius + 1, height) {
            for column in max(best.column - radius, 0)..<min(best.column + radius + 1, width) {
                let weight = Double(weights[row * width + column])
                sumX += weight * (Double(column) + 0.5)
                sumY += weight * (Double(row) + 0.5)
                sum += weight
            }
        }
        return (sumX / sum, sumY / sum)
    }

    /// The gripper's position in every frame of a video (UInt8 [frames, height, width, 3]).
    public static func gripperPath(video: UnsafePointer<UInt8>, frames: Int, height: Int, width: Int) -> [(x: Double, y: Double)?] {
        (0..<frames).map { gripperPosition(frame: video + $0 * height * width * 3, height: height, width: width) }
    }

    /// The class in 0..<classes a video (UInt8 [frames, height, width, 3]) of a `--classes` corpus shows: the
    /// class table nearest in chromaticity to the median colour of its pixels.
    public static func label(video: UnsafePointer<UInt8>, frames: Int, height: Int, width: Int, classes: Int) -> Int {
        let distances = classDistances(video: video, frames: frames, height: height, width: width, classes: classes)
        return distances.indices.min { distances[$0] < distances[$1] }!  // the first on ties
    }

    /// The chromaticity distance, Euclidean in (r, g), from the median colour of a video's pixels to each of the
    /// first `classes` class tables' colours: how far (and how clearly) the video shows each class.
    public static func classDistances(video: UnsafePointer<UInt8>, frames: Int, height: Int, width: Int, classes: Int) -> [Float] {
        precondition((1...SyntheticVideoGenerator.maximumClasses).contains(classes),
                     "SyntheticMeasures.classDistances: classes must be in 1...\(SyntheticVideoGenerator.maximumClasses)")
        let colour = medianColour(video: video, pixels: frames * height * width)
        let measured = chromaticity(colour.0, colour.1, colour.2)
        return classTables.prefix(classes).map { table in
            let reference = chromaticity(table.0, table.1, table.2)
            let dr = measured.0 - reference.0, dg = measured.1 - reference.1
            return (dr * dr + dg * dg).squareRoot()
        }
    }

    /// The share of a video's pixels (UInt8 [frames, height, width, 3]) whose own chromaticity is nearest
    /// class `label`'s table among the first `classes` tables: how much of what it shows has the class's
    /// colour (the table covers most of a frame; objects, the arm and noise take the rest).
    public static func classPixelShare(video: UnsafePointer<UInt8>, pixels: Int, classes: Int, label: Int) -> Double {
        precondition((1...SyntheticVideoGenerator.maximumClasses).contains(classes) && (0..<classes).contains(label),
                     "SyntheticMeasures.classPixelShare: classes must be in 1...\(SyntheticVideoGenerator.maximumClasses), label below it")
        let references = classTables.prefix(classes).map { chromaticity($0.0, $0.1, $0.2) }
        var nearest = 0
        for pixel in 0..<pixels {
            let p = video + 3 * pixel
            let measured = chromaticity(Float(p[0]) / 255, Float(p[1]) / 255, Float(p[2]) / 255)
            var best = (class: 0, distance: Float.infinity)
            for (index, reference) in references.enumerated() {
                let dr = measured.0 - reference.0, dg = measured.1 - reference.1
                let distance = dr * dr + dg * dg
                if distance < best.distance { best = (index, distance) }
            }
            if best.class == label { nearest += 1 }
        }
        return pixels > 0 ? Double(nearest) / Double(pixels) : 0
    }

    /// The per-channel median of `pixels` RGB pixels, each channel in [0, 1].
    static func medianColour(video: UnsafePointer<UInt8>, pixels: Int) -> (Float, Float, Float) {
        var histograms = [[Int]](repeating: [Int](repeating: 0, count: 256), count: 3)
        for pixel in 0..<pixels {
            for channel in 0..<3 { histograms[channel][Int(video[3 * pixel + channel])] += 1 }
        }
        func median(_ histogram: [Int]) -> Float {
            var seen = 0
            for (value, count) in histogram.enumerated() {
                seen += count
                if 2 * seen >= pixels { return Float(value) / 255 }
            }
            return 1
        }
        return (median(histograms[0]), median(histograms[1]), median(histograms[2]))
    }
}
