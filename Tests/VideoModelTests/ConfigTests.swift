// Bad configs give one clear error naming the field and the rule.

import Testing
@testable import VideoModel

@Suite struct ConfigTests {
    let valid = """
    frames: 8
    height: 16
    width: 16
    subscale: [2, 2, 2]
    prime_frames: [0]
    embedding_size: 8
    hidden_size: 16
    heads: 2
    head_size: 8
    ffn_size: 32
    encoder_layers: 1
    decoder_layers: 1
    encoder_kernel: [3, 3, 3]
    blocks: [[4, 8, 8], [2, 4, 4]]
    """

    func error(_ yaml: String) -> String? {
        do {
            let config = try ConfigFile.decode(ModelConfig.self, yaml: yaml, source: "test.yaml")
            try config.validate()
            return nil
        } catch { return "\(error)" }
    }

    @Test func theValidConfigDecodesWithDefaults() throws {
        #expect(error(valid) == nil)
        let withoutOptional = valid.replacingOccurrences(of: "encoder_kernel: [3, 3, 3]\n", with: "")
        let config = try ConfigFile.decode(ModelConfig.self, yaml: withoutOptional, source: "t")
        #expect(config.encoderKernel == Triple(5, 3, 3))
    }

    @Test(arguments: [
        ("blocks: [[4, 8, 8], [2, 4, 4]]", "blocks: [[4, 8, 8], [3, 4, 4]]", "model.blocks[1]: block [3, 4, 4] does not divide the slice grid [4, 8, 8]"),
        ("subscale: [2, 2, 2]", "subscale: [3, 2, 2]", "model.subscale: factor 3 along t does not divide the video size 8"),
        ("encoder_kernel: [3, 3, 3]", "encoder_kernel: [3, 4, 3]", "model.encoder_kernel: sizes must be odd"),
        ("heads: 2", "heads: 2\nhidden_dim: 4", "unknown key 'hidden_dim'"),
        ("heads: 2\n", "", "missing field 'heads'"),
        ("prime_frames: [0]", "prime_frames: [0, 9]", "model.prime_frames: frame 9 is outside"),
        ("heads: 2", "heads: two", "field 'heads' has the wrong type"),
    ])
    func badConfigsNameTheFieldAndTheRule(original: String, replacement: String, expected: String) {
        let message = error(valid.replacingOccurrences(of: original, with: replacement))
        #expect(message?.contains(expected) == true, "got: \(message ?? "no error")")
    }
}
