// FLOPCount: analytic model FLOPs under docs/design.md §7's convention — 2·m·n·k per matrix product;
// attention scores and weighted sums over the full block (masked entries counted); the encoder input
// projection, shift convolution (13 taps), conditioning and channel head (C·(d·d + d·256) per position)
// counted; embedding gathers and element-wise work not counted; a training step = 3 × forward.
// MFU uses that count alone. Beside it (docs/design.md §9): the causal blocks' masked triangle the tiled attention
// kernel skips (`skippedPerVideo`) and the work run again in backward (`recomputedPerVideo`).

import Kernels

public enum FLOPCount {
    /// Forward FLOPs for one video (one slice).
    public static func forwardPerVideo(_ config: ModelConfig) -> Double {
        let n = Double(config.positionsPerSlice), d = Double(config.hiddenSize), e = Double(config.embeddingSize)
        let hd = Double(config.attentionWidth), f = Double(config.ffnSize), c = Double(ModelConfig.channels)
        func layer(_ index: Int) -> Double {
            let nb = Double(config.block(forLayer: index).product)
            let projections = 2 * n * d * hd * 3 + 2 * n * hd * d
            let attention = 2 * n * nb * hd * 2
            let ffn = 2 * n * d * f * 2
            return projections + attention + ffn
        }
        let encoder = 2 * n * e * d + (0..<config.encoderLayers).map(layer).reduce(0, +)
        let decoder = 13 * 2 * n * e * d + 2 * n * d * d + (0..<config.decoderLayers).map(layer).reduce(0, +)
        let head = c * (d * d + d * 256) * 2 * n
        return encoder + decoder + head
    }

    public static func trainingStep(_ config: ModelConfig, batch: Int) -> Double {
        3 * forwardPerVideo(config) * Double(batch)
    }

    /// Score (q·kᵀ) and weighted-sum (p·v) FLOPs of one forward per video, per layer of a stack.
    static func attentionProducts(_ config: ModelConfig, layers: Int, causal: Bool, computed: Bool) -> Double {
        let n = Double(config.positionsPerSlice), hd = Double(config.attentionWidth)
        return (0..<layers).map { index in
            let nb = config.block(forLayer: index).product
            let fraction = computed ? BlockAttention.computedFraction(blockLength: nb, causal: causal) : 1
            return 2 * n * Double(nb) * hd * 2 * fraction
        }.reduce(0, +)
    }

    /// Training-step FLOPs per video that the convention counts but the kernels do not run: the masked upper
    /// triangle beyond the diagonal tiles of the decoder's causal blocks (forward and, ×2, backward).
    public static func skippedPerVideo(_ config: ModelConfig) -> Double {
        let all = attentionProducts(config, layers: config.decoderLayers, causal: true, computed: false)
        let run = attentionProducts(config, layers: config.decoderLayers, causal: true, computed: true)
        return 3 * (all - run)
    }

    /// Training-step FLOPs per video run in addition to the convention's 3 × forward: attention backward
    /// recomputes each block's scores (q·kᵀ, half the block's products); with `recompute: layer` every
    /// attention layer and the channel head run their forward once more (the kernels' causal skip applied).
    public static func recomputedPerVideo(_ config: ModelConfig, recompute: Recompute) -> Double {
        let encoder = attentionProducts(config, layers: config.encoderLayers, causal: false, computed: true)
        let decoder = attentionProducts(config, layers: config.decoderLayers, causal: true, computed: true)
        let scores = (encoder + decoder) / 2
        guard recompute == .layer else { return scores }
        let n = Double(config.positionsPerSlice), d = Double(config.hiddenSize)
        let hd = Double(config.attentionWidth), f = Double(config.ffnSize), c = Double(ModelConfig.channels)
        let dense = Double(config.encoderLayers + config.decoderLayers) * (2 * n * d * hd * 4 + 2 * n * d * f * 2)
        let head = c * (d * d + d * 256) * 2 * n
        return scores + encoder + decoder + dense + head
    }
}
