// SamplingProtocol: everything a drawn sample depends on besides its (video, sample) index — the weights,
// the priming frames, the seed, the temperature, the precision of the products, and (conditioned models)
// the guidance weight and what the samples were conditioned on. Stored as attributes
// of every file the sampling job writes, so a resumed job refuses to mix samples of another protocol.
//
// SampleItem: one (test video, sample index). Its random stream is the sampler's per-sub-pixel hash of
// (seed, stream, slice, position, channel) with stream = video + sample·2³², so a sample is a function of
// (seed, video, sample) alone: not of the number of ranks, the batch it shares, or interruptions; and
// sample 0 of a video is what `vt sample` drew for it before samples per video existed.

import HDF5
import VideoModel

public struct SampleItem: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let video: Int
    public let sample: Int
    public init(video: Int, sample: Int) { self.video = video; self.sample = sample }
    /// The sampler's random-stream id (CachedSampler's `videoIDs`).
    public var stream: Int { video + sample << 32 }
    public static func < (a: SampleItem, b: SampleItem) -> Bool { (a.video, a.sample) < (b.video, b.sample) }
    public var description: String { "video \(video) sample \(sample)" }
}

public struct SamplingProtocol: Equatable, Sendable {
    public var seed: UInt64
    public var temperature: Double
    public var primeFrames: [Int]
    /// "fp32" or "bf16": the precision of the sampler's matrix products.
    public var precision: String
    /// CRC-32C of the model's fp32 parameters: which weights drew the samples.
    public var parametersCRC: UInt32
    /// Checkpoint step and path (informative; the CRC is what is compared).
    public var step: Int
    public var checkpoint: String
    /// Sample geometry: frames, height, width.
    public var frames: Int, height: Int, width: Int
    /// The model's clip T and the window stride k when the samples are longer than it (docs/design.md §12);
    /// both equal `frames` for ordinary samples.
    public var modelFrames: Int, stride: Int
    /// Whether the samples slide windows (more frames than the model's clip).
    public var isLong: Bool { frames > modelFrames }
    /// Classifier-free guidance weight (0: none) and what the samples were conditioned on
    /// (SamplingConditioning.description: "data" by default); docs/design.md §11.
    public var guidance: Double
    public var conditioning: String

    public init(seed: UInt64, temperature: Double, primeFrames: [Int], precision: String, parametersCRC: UInt32,
                step: Int, checkpoint: String, frames: Int, height: Int, width: Int, guidance: Double = 0,
                conditioning: String = "data", modelFrames: Int? = nil, stride: Int? = nil) {
        self.seed = seed; self.temperature = temperature; self.primeFrames = primeFrames; self.precision = precision
        self.parametersCRC = parametersCRC; self.step = step; self.checkpoint = checkpoint
        self.frames = frames; self.height = height; self.width = width
        self.guidance = guidance; self.conditioning = conditioning
        self.modelFrames = modelFrames ?? frames; self.stride = stride ?? modelFrames ?? frames
    }

    /// The windows the samples are drawn in (one, unless they are longer than the model's clip).
    public func windows() throws -> SlidingWindows {
        try SlidingWindows(videoFrames: frames, clipFrames: modelFrames, stride: stride,
                           first: FramePriming(primeFrames, clipFrames: modelFrames))
    }

    /// The frames that are generated (and scored by PSNR/SSIM): every frame not primed.
    public var generatedFrames: [Int] { (0..<frames).filter { !primeFrames.contains($0) } }
    public var clipBytes: Int { frames * height * width * 3 }

    public func write(to group: HDF5Group) throws {
        try group.setAttribute("seed", Int64(bitPattern: seed))
        try group.setAttribute("temperature", temperature)
        try group.setAttribute("prime_frames", primeFrames.map(Int64.init))
        try group.setAttribute("precision", precision)
        try group.setAttribute("parameters_crc32c", Int64(parametersCRC))
        try group.setAttribute("step", Int64(step))
        try group.setAttribute("checkpoint", checkpoint)
        try group.setAttribute("guidance", guidance)
        try group.setAttribute("conditioning", conditioning)
        if isLong {   // only long samples carry them, so an ordinary file's attributes are what they were
            try group.setAttribute("model_frames", Int64(modelFrames))
            try group.setAttribute("window_stride", Int64(stride))
        }
    }

    /// The protocol stored in `group` (geometry from the caller, who reads it off the datasets).
    public static func read(from group: HDF5Group, frames: Int, height: Int, width: Int) throws -> SamplingProtocol {
        SamplingProtocol(seed: UInt64(bitPattern: try group.attribute("seed", as: Int64.self)),
                         temperature: try group.attribute("temperature", as: Double.self),
                         primeFrames: try group.attribute("prime_frames", as: [Int64].self).map { Int($0) },
                         precision: (try? group.attribute("precision", as: String.self)) ?? "unknown",
                         parametersCRC: UInt32(truncatingIfNeeded: (try? group.attribute("parameters_crc32c", as: Int64.self)) ?? -1),
                         step: Int((try? group.attribute("step", as: Int64.self)) ?? -1),
                         checkpoint: (try? group.attribute("checkpoint", as: String.self)) ?? "unknown",
                         frames: frames, height: height, width: width,
                         guidance: (try? group.attribute("guidance", as: Double.self)) ?? 0,
                         conditioning: (try? group.attribute("conditioning", as: String.self)) ?? "data",
                         modelFrames: try group.hasAttribute("model_frames") ? Int(try group.attribute("model_frames", as: Int64.self)) : nil,
                         stride: try group.hasAttribute("window_stride") ? Int(try group.attribute("window_stride", as: Int64.self)) : nil)
    }

    /// What differs between the protocol that wrote a file (`self`) and `other`, or nil when they match.
    public func mismatch(_ other: SamplingProtocol) -> String? {
        var differences: [String] = []
        if seed != other.seed { differences.append("seed \(seed), not \(other.seed)") }
        if temperature != other.temperature { differences.append("temperature \(temperature), not \(other.temperature)") }
        if primeFrames != other.primeFrames { differences.append("prime frames \(primeFrames), not \(other.primeFrames)") }
        if precision != other.precision { differences.append("precision \(precision), not \(other.precision)") }
        if parametersCRC != other.parametersCRC {
            differences.append("the weights of \(checkpoint) (step \(step)), not those of \(other.checkpoint) (step \(other.step))")
        }
        if guidance != other.guidance { differences.append("guidance \(guidance), not \(other.guidance)") }
        if conditioning != other.conditioning { differences.append("conditioning \(conditioning), not \(other.conditioning)") }
        if (modelFrames, stride) != (other.modelFrames, other.stride) {
            differences.append("windows of \(modelFrames) frames with stride \(stride), not \(other.modelFrames) with stride \(other.stride)")
        }
        if (frames, height, width) != (other.frames, other.height, other.width) {
            differences.append("\(frames)×\(height)×\(width) clips, not \(other.frames)×\(other.height)×\(other.width)")
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }
}
