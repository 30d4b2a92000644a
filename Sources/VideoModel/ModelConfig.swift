// ModelConfig: the Video Transformer's hyper-parameters under docs/design.md §2's names, with validation.

import Foundation
import Kernels

/// A 3-vector over (t, h, w), written `[t, h, w]` in configs.
public struct Triple: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var t: Int, h: Int, w: Int
    public init(_ t: Int, _ h: Int, _ w: Int) { self.t = t; self.h = h; self.w = w }
    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        guard container.count == 3 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected a list of 3 integers [t, h, w]"))
        }
        t = try container.decode(Int.self); h = try container.decode(Int.self); w = try container.decode(Int.self)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(t); try container.encode(h); try container.encode(w)
    }
    public var product: Int { t * h * w }
    public var tuple: (t: Int, h: Int, w: Int) { (t, h, w) }
    /// The (t, h, w) coordinates of raster index `index` in a grid of this shape (w fastest).
    @inline(__always) public func coordinates(ofRasterIndex index: Int) -> (t: Int, h: Int, w: Int) {
        rasterCoordinates(index, in: tuple)
    }
    public var description: String { "[\(t), \(h), \(w)]" }
}

public struct ModelConfig: Codable, Equatable, Sendable {
    public var frames: Int
    public var height: Int
    public var width: Int
    public var subscale: Triple
    /// The priming patterns training draws from (docs/design.md §12): `prime_frames: [0]` is one pattern,
    /// `prime_frames: [[0], [0, 1, 2, 3, 4, 5, 6, 7]]` two. The first is what sampling and evaluation prime
    /// unless told otherwise; every pattern 0..<m also teaches continuing a video from its last m frames.
    public var primePatterns: [[Int]]
    /// Relative weights of `primePatterns` in training's draw (`prime_weights`; nil: uniform).
    public var primeWeights: [Double]?
    public var embeddingSize: Int
    public var hiddenSize: Int
    public var heads: Int
    public var headSize: Int
    public var ffnSize: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    public var encoderKernel: Triple
    public var blocks: [Triple]
    /// Width A of each frame's action vector (docs/design.md §11; BAIR: 4); 0: not action-conditioned.
    public var actions: Int
    /// Number K of classes (docs/design.md §11); 0: not class-conditioned. Row K of each class table is
    /// "no label" (what label dropout trains, and what guidance's unconditional pass reads).
    public var classes: Int

    /// The first priming pattern; setting it leaves that one pattern.
    public var primeFrames: [Int] {
        get { primePatterns[0] }
        set { primePatterns = [newValue]; primeWeights = nil }
    }

    public static let channels = 3
    public static let defaultEncoderKernel = Triple(5, 3, 3)
    public static let defaultBlocks = [Triple(4, 8, 4), Triple(4, 4, 16), Triple(1, 32, 4), Triple(1, 4, 32)]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case frames, height, width, subscale
        case primeFrames = "prime_frames", primeWeights = "prime_weights", embeddingSize = "embedding_size", hiddenSize = "hidden_size"
        case heads, headSize = "head_size", ffnSize = "ffn_size", encoderLayers = "encoder_layers"
        case decoderLayers = "decoder_layers", encoderKernel = "encoder_kernel", blocks, actions, classes
    }

    public init(frames: Int, height: Int, width: Int, subscale: Triple, primeFrames: [Int], embeddingSize: Int,
                hiddenSize: Int, heads: Int, headSize: Int, ffnSize: Int, encoderLayers: Int,
                decoderLayers: Int, encoderKernel: Triple = ModelConfig.defaultEncoderKernel,
                blocks: [Triple] = ModelConfig.defaultBlocks, actions: Int = 0, classes: Int = 0) {
        self.frames = frames; self.height = height; self.width = width; self.subscale = subscale
        self.primePatterns = [primeFrames]; self.embeddingSize = embeddingSize; self.hiddenSize = hiddenSize
        self.heads = heads; self.headSize = headSize; self.ffnSize = ffnSize
        self.encoderLayers = encoderLayers; self.decoderLayers = decoderLayers
        self.encoderKernel = encoderKernel; self.blocks = blocks
        self.actions = actions; self.classes = classes
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        frames = try c.decode(Int.self, forKey: .frames)
        height = try c.decode(Int.self, forKey: .height)
        width = try c.decode(Int.self, forKey: .width)
        subscale = try c.decode(Triple.self, forKey: .subscale)
        // One pattern `[0, 1]` (also `[]`: nothing primed) or a list of patterns `[[0], [0, 1]]`.
        if let single = try? c.decode([Int].self, forKey: .primeFrames) {
            primePatterns = [single]
        } else {
            do { primePatterns = try c.decode([[Int]].self, forKey: .primeFrames) } catch {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.primeFrames],
                                                        debugDescription: "expected a list of frame numbers ([0]) or a list of such lists ([[0], [0, 1]])"))
            }
        }
        primeWeights = try c.decodeIfPresent([Double].self, forKey: .primeWeights)
        embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        heads = try c.decode(Int.self, forKey: .heads)
        headSize = try c.decode(Int.self, forKey: .headSize)
        ffnSize = try c.decode(Int.self, forKey: .ffnSize)
        encoderLayers = try c.decode(Int.self, forKey: .encoderLayers)
        decoderLayers = try c.decode(Int.self, forKey: .decoderLayers)
        encoderKernel = try c.decodeIfPresent(Triple.self, forKey: .encoderKernel) ?? Self.defaultEncoderKernel
        blocks = try c.decodeIfPresent([Triple].self, forKey: .blocks) ?? Self.defaultBlocks
        actions = try c.decodeIfPresent(Int.self, forKey: .actions) ?? 0
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? 0
    }

    /// Encodes `actions` and `classes` only when set, so an unconditioned config's stored text is what it
    /// was before conditioning existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(frames, forKey: .frames); try c.encode(height, forKey: .height); try c.encode(width, forKey: .width)
        try c.encode(subscale, forKey: .subscale)
        // One pattern as the flat list it always was, so a one-pattern config's stored text does not change.
        if primePatterns.count == 1 { try c.encode(primePatterns[0], forKey: .primeFrames) } else { try c.encode(primePatterns, forKey: .primeFrames) }
        try c.encodeIfPresent(primeWeights, forKey: .primeWeights)
        try c.encode(embeddingSize, forKey: .embeddingSize); try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(heads, forKey: .heads); try c.encode(headSize, forKey: .headSize); try c.encode(ffnSize, forKey: .ffnSize)
        try c.encode(encoderLayers, forKey: .encoderLayers); try c.encode(decoderLayers, forKey: .decoderLayers)
        try c.encode(encoderKernel, forKey: .encoderKernel); try c.encode(blocks, forKey: .blocks)
        if actions != 0 { try c.encode(actions, forKey: .actions) }
        if classes != 0 { try c.encode(classes, forKey: .classes) }
    }

    /// The priming patterns as `FramePriming`s.
    public var primings: [FramePriming] { primePatterns.map { FramePriming($0, clipFrames: frames) } }

    /// The strides k the model was trained to continue a video with (docs/design.md §12): T − m for every
    /// pattern 0..<m with m ≥ 1, largest first.
    public var trainedStrides: [Int] {
        Set(primings.compactMap(\.prefixLength).filter { $0 >= 1 }.map { frames - $0 }).sorted(by: >)
    }

    /// Whether the model reads anything beside the video (actions or a class).
    public var isConditioned: Bool { actions > 0 || classes > 0 }

    /// Slice grid (T', H', W').
    public var sliceShape: Triple { Triple(frames / subscale.t, height / subscale.h, width / subscale.w) }
    public var sliceCount: Int { subscale.product }
    public var positionsPerSlice: Int { sliceShape.product }
    public var attentionWidth: Int { heads * headSize }

    /// The block shape of layer `index` (counted within its stack).
    public func block(forLayer index: Int) -> Triple { blocks[index % blocks.count] }

    /// Checks every rule; throws one `ConfigError` naming the field (prefixed by `prefix`, e.g. "model.").
    public func validate(prefix: String = "model.") throws {
        func fail(_ field: String, _ rule: String) throws { throw ConfigError("\(prefix)\(field): \(rule)") }
        for (name, value) in [("frames", frames), ("height", height), ("width", width),
                              ("embedding_size", embeddingSize), ("hidden_size", hiddenSize), ("heads", heads),
                              ("head_size", headSize), ("ffn_size", ffnSize), ("encoder_layers", encoderLayers),
                              ("decoder_layers", decoderLayers)] where value < 1 {
            try fail(name, "must be at least 1 (got \(value))")
        }
        for (axis, size, factor) in [("t", frames, subscale.t), ("h", height, subscale.h), ("w", width, subscale.w)] {
            if factor < 1 { try fail("subscale", "factors must be at least 1 (got \(subscale))") }
            if size % factor != 0 {
                try fail("subscale", "factor \(factor) along \(axis) does not divide the video size \(size) (subscale \(subscale) for \(frames)×\(height)×\(width))")
            }
        }
        for (axis, k) in [("t", encoderKernel.t), ("h", encoderKernel.h), ("w", encoderKernel.w)] where k < 1 || k % 2 == 0 {
            try fail("encoder_kernel", "sizes must be odd and positive so the kernel is centred (got \(k) along \(axis) in \(encoderKernel))")
        }
        if blocks.isEmpty { try fail("blocks", "needs at least one block shape") }
        let grid = sliceShape
        for (index, block) in blocks.enumerated() {
            if block.t < 1 || block.h < 1 || block.w < 1 { try fail("blocks[\(index)]", "sizes must be at least 1 (got \(block))") }
            if grid.t % block.t != 0 || grid.h % block.h != 0 || grid.w % block.w != 0 {
                try fail("blocks[\(index)]", "block \(block) does not divide the slice grid \(grid) (video \(frames)×\(height)×\(width) / subscale \(subscale))")
            }
        }
        if primePatterns.isEmpty { try fail("prime_frames", "needs at least one pattern (write [] to prime nothing)") }
        for (index, pattern) in primePatterns.enumerated() {
            let field = primePatterns.count == 1 ? "prime_frames" : "prime_frames[\(index)]"
            if Set(pattern).count != pattern.count { try fail(field, "has duplicates (\(pattern))") }
            for frame in pattern where frame < 0 || frame >= frames {
                try fail(field, "frame \(frame) is outside the video's 0..<\(frames)")
            }
            if pattern.count >= frames { try fail(field, "primes every frame, leaving nothing to predict") }
            if let earlier = primePatterns[..<index].firstIndex(where: { Set($0) == Set(pattern) }) {
                try fail(field, "repeats prime_frames[\(earlier)] (\(pattern)); give it a weight in prime_weights instead")
            }
        }
        if let primeWeights {
            if primeWeights.count != primePatterns.count {
                try fail("prime_weights", "has \(primeWeights.count) weight(s) for \(primePatterns.count) priming pattern(s)")
            }
            if !primeWeights.allSatisfy({ $0.isFinite && $0 > 0 }) { try fail("prime_weights", "weights must be positive numbers (got \(primeWeights))") }
        }
        if actions < 0 || actions > 1024 { try fail("actions", "must be 0 (none) or an action width up to 1024 (got \(actions))") }
        if classes < 0 || classes > 1_000_000 { try fail("classes", "must be 0 (none) or a class count up to 1,000,000 (got \(classes))") }
    }
}

/// What backward keeps from forward (`training.recompute`, docs/design.md §9).
public enum Recompute: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Every layer keeps its activations until its backward.
    case none
    /// Each attention layer keeps only its input stream; backward re-runs the layer's forward into shared
    /// scratch just before the layer's backward (same kernels, same order: bitwise the results of `none`).
    case layer
    public var description: String { rawValue }
}
