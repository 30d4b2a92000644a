// samples.h5's `lpips` float32 [videos, K, G] (docs/design.md §11): added crash-safely (a copy renamed over
// the file; no temporary left, nothing else changed, never over an existing entry) and read back.

import Foundation
import VTTestSupport
import Testing
import Evaluation
import HDF5

/// A samples.h5 as docs/design.md §10 lays it out: `videos` × `k` samples of `frames` frames, prime_frames [0].
func writeSamplesFile(_ path: String, videos: Int, k: Int, frames: Int, height: Int, width: Int) throws {
    let file = try HDF5File.create(path)
    let clip = frames * height * width * 3
    try file.root.createDataset("samples", shape: [videos, k, frames, height, width, 3],
                                values: (0..<(videos * k * clip)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    try file.root.createDataset("ground_truth", shape: [videos, frames, height, width, 3],
                                values: (0..<(videos * clip)).map { UInt8(truncatingIfNeeded: $0 &* 3) })
    try file.root.createDataset("psnr", shape: [videos, k, frames - 1], values: (0..<(videos * k * (frames - 1))).map(Double.init))
    try file.root.setAttribute("prime_frames", [Int64(0)])
    try file.close()
}

@Suite(.serialized)
struct LPIPSStorageTests {
    @Test func scoresAreAddedToSamplesFileAndReadBack() throws {
        let directory = try temporaryDirectory(), elsewhere = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory); try? FileManager.default.removeItem(at: elsewhere) }
        let path = directory.appendingPathComponent("samples.h5").path, before = elsewhere.appendingPathComponent("before.h5").path
        try writeSamplesFile(path, videos: 2, k: 3, frames: 3, height: 4, width: 5)
        try FileManager.default.copyItem(atPath: path, toPath: before)
        let original = try SampleFile(path: path)
        #expect(!original.hasStoredLPIPS && !original.hasForeignLPIPS && original.lpipsShape == [2, 3, 2])
        let scores = (0..<12).map { Float($0) / 16 + 0.01 }
        try SampleFile.storeLPIPS(scores, shape: original.lpipsShape, in: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["samples.h5"], "a temporary was left behind")
        // The open SampleFile still reads the old file (renamed over, not changed); a new one sees the scores.
        #expect(!original.hasStoredLPIPS)
        let stored = try SampleFile(path: path)
        #expect(stored.hasStoredLPIPS && !stored.hasForeignLPIPS)
        let values = scores.map(Double.init)  // [video][sample][frame] in that order
        #expect(try stored.storedLPIPS(videos: 2, samples: 3) == (0..<2).map { v in (0..<3).map { s in Array(values[(v * 6 + s * 2)..<(v * 6 + s * 2 + 2)]) } })
        #expect(try stored.storedLPIPS(videos: 1, samples: 2) == [[Array(values[0..<2]), Array(values[2..<4])]])
        // Everything else is as it was.
        let new = try HDF5File.open(path), old = try HDF5File.open(before)
        for name in ["samples", "ground_truth", "psnr"] {
            #expect(try rawBytes(new.root.dataset(name)) == (try rawBytes(old.root.dataset(name))), "\(name) changed")
        }
        #expect(try new.root.dataset("lpips").elementType() == .float32 && (try new.root.dataset("lpips").shape()) == [2, 3, 2])
        #expect(try new.root.attribute("prime_frames", as: [Int64].self) == [0])
        try new.close(); try old.close()
        // A second store is refused and leaves the file as it was.
        let once = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: EvaluationError.self) { try SampleFile.storeLPIPS(scores, shape: [2, 3, 2], in: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == once)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["samples.h5"])
    }

    @Test func anLPIPSEntryOfAnotherShapeIsForeign() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("samples.h5").path
        try writeSamplesFile(path, videos: 1, k: 1, frames: 2, height: 2, width: 2)
        let file = try HDF5File.open(path, mode: .readWrite)
        try file.root.createDataset("lpips", shape: [1, 1, 2], values: [0.5, 0.25] as [Double])  // float64, [1, 1, 2] ≠ [1, 1, 1]
        try file.close()
        let samples = try SampleFile(path: path)
        #expect(!samples.hasStoredLPIPS && samples.hasForeignLPIPS)
    }
}
