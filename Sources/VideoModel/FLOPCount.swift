// FLOPCount: analytic model FLOPs under DESIGN.md §7's convention — 2·m·n·k per matrix product;
// attention scores and weighted sums over the full block (masked entries counted); the encoder input
// projection, shift convolution (13 taps), conditioning and channel head (C·(d·d + d·256) per position)
// counted; embedding gathers and element-wise work not counted; a training step = 3 × forward.

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
}
