// Bad configs give one clear error naming the field and the rule.

import Foundation
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

    /// `prime_frames` is one list or a list of patterns; one pattern is stored as the flat list it always was.
    @Test func primeFramesIsOneListOrAListOfLists() throws {
        func decode(_ prime: String) throws -> ModelConfig {
            try ConfigFile.decode(ModelConfig.self, yaml: valid.replacingOccurrences(of: "prime_frames: [0]", with: prime), source: "t")
        }
        let one = try decode("prime_frames: [0]"), none = try decode("prime_frames: []")
        let two = try decode("prime_frames: [[0], [0, 1]]\nprime_weights: [3, 1]")
        #expect(one.primePatterns == [[0]] && one.primeFrames == [0] && one.primeWeights == nil && none.primePatterns == [[]])
        #expect(two.primePatterns == [[0], [0, 1]] && two.primeFrames == [0] && two.primeWeights == [3, 1])
        try two.validate()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(one), as: UTF8.self).contains("\"prime_frames\":[0],\"subscale\""))
        #expect(String(decoding: try encoder.encode(two), as: UTF8.self).contains("\"prime_frames\":[[0],[0,1]],\"prime_weights\":[3,1]"))
        #expect(try JSONDecoder().decode(ModelConfig.self, from: try encoder.encode(two)) == two)
        var empty = one
        empty.primePatterns = []   // not writable in YAML ([] is one empty pattern), but refused all the same
        #expect(throws: ConfigError.self) { try empty.validate() }
    }

    @Test(arguments: [
        ("blocks: [[4, 8, 8], [2, 4, 4]]", "blocks: [[4, 8, 8], [3, 4, 4]]", "model.blocks[1]: block [3, 4, 4] does not divide the slice grid [4, 8, 8]"),
        ("subscale: [2, 2, 2]", "subscale: [3, 2, 2]", "model.subscale: factor 3 along t does not divide the video size 8"),
        ("encoder_kernel: [3, 3, 3]", "encoder_kernel: [3, 4, 3]", "model.encoder_kernel: sizes must be odd"),
        ("heads: 2", "heads: 2\nhidden_dim: 4", "unknown key 'hidden_dim'"),
        ("heads: 2\n", "", "missing field 'heads'"),
        ("prime_frames: [0]", "prime_frames: [0, 9]", "model.prime_frames: frame 9 is outside"),
        ("heads: 2", "heads: two", "field 'heads' has the wrong type"),
        // Priming patterns (docs/design.md §12).
        ("prime_frames: [0]", "prime_frames: [[0], [0, 1, 1]]", "model.prime_frames[1]: has duplicates"),
        ("prime_frames: [0]", "prime_frames: [[0], [9]]", "model.prime_frames[1]: frame 9 is outside"),
        ("prime_frames: [0]", "prime_frames: [[0, 1], [1, 0]]", "model.prime_frames[1]: repeats prime_frames[0]"),
        ("prime_frames: [0]", "prime_frames: [[0], [0, 1]]\nprime_weights: [1]", "model.prime_weights: has 1 weight(s) for 2"),
        ("prime_frames: [0]", "prime_frames: [[0], [0, 1]]\nprime_weights: [1, -2]", "model.prime_weights: weights must be positive"),
        ("prime_frames: [0]", "prime_frames: [[0], 1]", "expected a list of frame numbers ([0]) or a list of such lists"),
    ])
    func badConfigsNameTheFieldAndTheRule(original: String, replacement: String, expected: String) {
        let message = error(valid.replacingOccurrences(of: original, with: replacement))
        #expect(message?.contains(expected) == true, "got: \(message ?? "no error")")
    }
}
