// SampleFile+LPIPS: samples.h5's `lpips` dataset (docs/design.md §11) — float32 [videos, K, G], the LPIPS of
// every generated frame of every sample against the real frame — read back for re-scoring, and added to a
// samples.h5 without ever leaving a half-written one behind.
//
// Adding a dataset to an HDF5 file in place is not crash-safe (a kill mid-write can damage the whole file),
// so `storeLPIPS` copies the file under a temporary name in the same folder, adds `lpips` to the copy,
// fsyncs it, renames it over the original and fsyncs the folder (SampleStore.writeDurably, which writes
// every samples file): a crash leaves the old file or the new one. The copy costs one pass over the file (a few seconds per GB), once per file: re-scoring reads the
// stored values, and the sampling job keeps a samples.h5 it has nothing to add to (SampleStore.assemble).

import Foundation
import HDF5

extension SampleFile {
    /// The shape `lpips` has in this file: [videos, K, G].
    public var lpipsShape: [Int] { [videos, samplesPerVideo, generatedFrames.count] }

    /// Whether the file holds `lpips` float32 [videos, K, G].
    public var hasStoredLPIPS: Bool {
        guard let dataset = try? file.root.dataset("lpips") else { return false }
        return (try? dataset.shape()) == lpipsShape && (try? dataset.elementType()) == .float32
    }

    /// Whether the file has something named `lpips` that is not that dataset (then nothing is stored over it).
    public var hasForeignLPIPS: Bool { ((try? file.root.contains("lpips")) ?? false) && !hasStoredLPIPS }

    /// The stored LPIPS [video][sample][generated frame] of the first `videos` × `samples`.
    public func storedLPIPS(videos: Int, samples: Int) throws -> [[[Double]]] {
        let flat: [Float]
        do { flat = try file.root.dataset("lpips").read(as: Float.self) } catch {
            throw EvaluationError("\(path): cannot read the stored LPIPS scores: \(error)")
        }
        return Self.nest(flat.map(Double.init), videos: videos, samples: samples, samplesPerVideo: samplesPerVideo,
                         frames: generatedFrames.count)
    }

    static func nest(_ flat: [Double], videos: Int, samples: Int, samplesPerVideo: Int, frames g: Int) -> [[[Double]]] {
        (0..<videos).map { v in (0..<samples).map { s in Array(flat[((v * samplesPerVideo + s) * g)..<((v * samplesPerVideo + s + 1) * g)]) } }
    }

    /// Adds `lpips` float32 `shape` (= [videos, K, G], values in that order) to the samples file at `path`,
    /// crash-safely (a copy under a temporary name, fsync, rename, folder fsync). The file must not have an
    /// `lpips` entry yet.
    public static func storeLPIPS(_ scores: [Float], shape: [Int], in path: String) throws {
        precondition(shape.count == 3 && scores.count == shape.reduce(1, *), "storeLPIPS: \(scores.count) scores for shape \(shape)")
        try SampleStore.writeDurably(path, fromCopy: true, temporarySuffix: "lpips-partial",
                                     failure: "cannot store the LPIPS scores in it") { file in
            if try file.root.contains("lpips") { throw EvaluationError("it already has an lpips entry") }
            try file.root.createDataset("lpips", shape: shape, values: scores)
        }
    }
}
