// SampleFile: a samples.h5 as outside tools see it (docs/design.md §10) — checked once when opened, so scoring
// it later cannot trap — and its PSNR/SSIM scores: the ones the sampling job stored, or computed here
// from the pixels (for a file written by another tool).

import Foundation
import HDF5
import VideoModel

public final class SampleFile {
    public let path: String
    public let videos: Int, samplesPerVideo: Int
    public let frames: Int, height: Int, width: Int
    public let primeFrames: [Int]
    public let seed: UInt64?
    public let temperature: Double?
    /// Long samples (docs/design.md §12): the windows they were drawn in (attributes model_frames and
    /// window_stride); nil for samples of the model's own clip, or a file that does not say.
    public let windows: SlidingWindows?
    let file: HDF5File  // internal: SampleFile+LPIPS.swift reads it too

    public var generatedFrames: [Int] { (0..<frames).filter { !primeFrames.contains($0) } }
    public var clipBytes: Int { frames * height * width * 3 }

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw EvaluationError("\(path): no such samples file") }
        let opened: HDF5File
        do { opened = try HDF5File.open(path) } catch { throw EvaluationError("\(path): not a readable HDF5 file (\(error))") }
        do {
            let layout = try Self.layout(of: opened)
            (videos, samplesPerVideo, frames, height, width) = (layout.shape[0], layout.shape[1], layout.shape[2], layout.shape[3], layout.shape[4])
            primeFrames = layout.primeFrames
            seed = (try? opened.root.attribute("seed", as: Int64.self)).map { UInt64(bitPattern: $0) }
            temperature = try? opened.root.attribute("temperature", as: Double.self)
            windows = try Self.windows(of: opened, frames: layout.shape[2], primeFrames: layout.primeFrames)
            file = opened
        } catch {
            try? opened.close()
            throw EvaluationError("\(path): \(error)")
        }
    }

    /// The windows named by the file's model_frames and window_stride attributes, checked against its frames.
    static func windows(of file: HDF5File, frames: Int, primeFrames: [Int]) throws -> SlidingWindows? {
        guard try file.root.hasAttribute("model_frames") else { return nil }
        guard try file.root.hasAttribute("window_stride") else { throw EvaluationError("has model_frames but no window_stride attribute") }
        let t = Int(try file.root.attribute("model_frames", as: Int64.self)), k = Int(try file.root.attribute("window_stride", as: Int64.self))
        guard t >= 1, t <= frames, primeFrames.allSatisfy({ $0 < t }) else {
            throw EvaluationError("model_frames \(t) does not fit \(frames)-frame samples primed at \(primeFrames)")
        }
        do {
            return try SlidingWindows(videoFrames: frames, clipFrames: t, stride: k, first: FramePriming(primeFrames, clipFrames: t))
        } catch {
            throw EvaluationError("model_frames \(t) and window_stride \(k): \(error)")
        }
    }

    /// The samples' shape and the primed frames, or an error saying what does not follow docs/design.md §10.
    static func layout(of file: HDF5File) throws -> (shape: [Int], primeFrames: [Int]) {
        do {
            for name in ["samples", "ground_truth"] {
                guard try file.root.kind(of: name) == .dataset else {
                    throw EvaluationError("has no dataset \(name) (docs/design.md §10: samples [videos, K, T, H, W, 3], ground_truth [videos, T, H, W, 3])")
                }
                guard try file.root.dataset(name).elementType() == .uint8 else { throw EvaluationError("\(name) is not uint8") }
            }
            let shape = try file.root.dataset("samples").shape(), truth = try file.root.dataset("ground_truth").shape()
            guard shape.count == 6, shape[5] == 3, truth == [shape[0]] + Array(shape[2...]), shape[0] >= 1, shape[1] >= 1 else {
                throw EvaluationError("samples has shape \(shape) and ground_truth \(truth); they must be [videos, K, T, H, W, 3] and [videos, T, H, W, 3]")
            }
            guard try file.root.hasAttribute("prime_frames") else { throw EvaluationError("has no prime_frames attribute (which frames were given, not generated)") }
            let primeFrames = try file.root.attribute("prime_frames", as: [Int64].self).map { Int($0) }
            guard primeFrames.allSatisfy({ (0..<shape[2]).contains($0) }), primeFrames.count < shape[2] else {
                throw EvaluationError("prime_frames \(primeFrames) do not fit \(shape[2]) frames with at least one generated")
            }
            return (shape, primeFrames)
        } catch let error as EvaluationError {
            throw error
        } catch {
            throw EvaluationError("cannot read it: \(error)")
        }
    }

    deinit { try? file.close() }

    public var hasStoredScores: Bool {
        let g = generatedFrames.count
        return ["psnr", "ssim"].allSatisfy { (try? file.root.dataset($0).shape()) == [videos, samplesPerVideo, g] }
    }

    /// Scores [video][sample][generated frame] of the first `videos` × `samples`, from the stored datasets.
    public func storedScores(videos: Int, samples: Int) throws -> (psnr: [[[Double]]], ssim: [[[Double]]]) {
        let g = generatedFrames.count
        func nest(_ flat: [Double]) -> [[[Double]]] {
            (0..<videos).map { v in (0..<samples).map { s in Array(flat[((v * samplesPerVideo + s) * g)..<((v * samplesPerVideo + s + 1) * g)]) } }
        }
        do {
            return (nest(try file.root.dataset("psnr").read(as: Double.self)), nest(try file.root.dataset("ssim").read(as: Double.self)))
        } catch { throw EvaluationError("\(path): cannot read the stored scores: \(error)") }
    }

    /// Scores computed from the pixels: PSNR and SSIM of every generated frame against the real one.
    public func computedScores(videos: Int, samples: Int) throws -> (psnr: [[[Double]]], ssim: [[[Double]]]) {
        var psnr: [[[Double]]] = [], ssim: [[[Double]]] = []
        for v in 0..<videos {
            let (real, row) = try pixels(video: v)
            var videoPSNR: [[Double]] = [], videoSSIM: [[Double]] = []
            real.withUnsafeBufferPointer { real in
                row.withUnsafeBufferPointer { row in
                    for s in 0..<samples {
                        let scores = FrameMetrics.clipScores(real: real.baseAddress!, generated: row.baseAddress! + s * clipBytes,
                                                             frames: generatedFrames, height: height, width: width)
                        videoPSNR.append(scores.psnr); videoSSIM.append(scores.ssim)
                    }
                }
            }
            psnr.append(videoPSNR); ssim.append(videoSSIM)
        }
        return (psnr, ssim)
    }

    /// Video v's real clip and its K samples.
    public func pixels(video v: Int) throws -> (real: [UInt8], samples: [UInt8]) {
        do {
            return (try file.root.dataset("ground_truth").readRows(v..<(v + 1), as: UInt8.self),
                    try file.root.dataset("samples").readRows(v..<(v + 1), as: UInt8.self))
        } catch { throw EvaluationError("\(path): cannot read video \(v): \(error)") }
    }
}
