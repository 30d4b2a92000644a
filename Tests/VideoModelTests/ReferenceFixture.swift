// Loads the golden fixtures written by Tests/Fixtures/Generators/reference_model.py (NumPy, float64).

import Foundation
import Kernels
@testable import VideoModel

struct ReferenceFile: Decodable {
    struct Parameter: Decodable { let name: String; let shape: [Int]; let values: [Double] }
    struct Case: Decodable {
        let name: String
        let config: ModelConfig
        let parameters: [Parameter]
        let videos: [[UInt8]]
        let nll: [[Double]]
        let bits_per_dim: [Double]
        let slice_loss: [[Double?]]
        /// Conditioned cases (docs/design.md §11): flat [T, A] actions per video, a label per video (K: none).
        let actions: [[Double]]?
        let labels: [Int]?

        /// Runs `body` with the conditioning of videos `videos` (all by default).
        func withConditioning<Result>(videos: [Int]? = nil, _ body: (Conditioning) throws -> Result) rethrows -> Result {
            let chosen = videos ?? Array(0..<self.videos.count)
            let flat = actions.map { actions in chosen.flatMap { actions[$0].map(Float.init) } } ?? []
            return try flat.withUnsafeBufferPointer { buffer in
                try body(Conditioning(actions: actions == nil ? nil : buffer.baseAddress, labels: labels.map { labels in chosen.map { labels[$0] } }))
            }
        }
    }
    let cases: [Case]

    static func load() throws -> ReferenceFile {
        guard let url = Bundle.module.url(forResource: "reference_tiny", withExtension: "json", subdirectory: "Fixtures") else {
            throw ConfigError("reference_tiny.json is missing from the test bundle")
        }
        return try JSONDecoder().decode(ReferenceFile.self, from: Data(contentsOf: url))
    }
}

extension VideoTransformer {
    /// Copies the fixture's parameters in by name; every table entry must be present with its shape.
    func load(_ parameters: [ReferenceFile.Parameter]) throws {
        var seen = Set<String>()
        for parameter in parameters {
            guard let entry = layout.table[parameter.name] else { throw ConfigError("fixture has unknown tensor \(parameter.name)") }
            guard entry.shape == parameter.shape else {
                throw ConfigError("\(parameter.name): fixture shape \(parameter.shape), model \(entry.shape)")
            }
            for (i, value) in parameter.values.enumerated() { self.parameters[entry.offset + i] = Float(value) }
            seen.insert(parameter.name)
        }
        let missing = layout.table.entries.map(\.name).filter { !seen.contains($0) }
        if !missing.isEmpty { throw ConfigError("fixture lacks tensors \(missing)") }
    }

    /// Per-sub-pixel NLL of whole videos (all slices), [video][T·H·W·C], 0 at primed sub-pixels.
    func fullNLL(videos: [[UInt8]], conditioning: Conditioning = .none) -> [[Double]] {
        let c = ModelConfig.channels
        let flat = videos.flatMap { $0 }
        var result = videos.map { [Double](repeating: 0, count: $0.count) }
        let shape = subscaling.sliceShape
        for k in 0..<config.sliceCount {
            flat.withUnsafeBufferPointer {
                _ = forward(videos: $0.baseAddress!, slices: Array(repeating: k, count: videos.count), conditioning: conditioning, mode: .evaluation)
            }
            let origin = subscaling.offset(ofSlice: k)
            for v in 0..<videos.count {
                for position in 0..<positions where !subscaling.isPrimed(slice: k, position: position) {
                    let i = position / (shape.h * shape.w), j = (position / shape.w) % shape.h, l = position % shape.w
                    let pixel = subscaling.pixel(slice: origin, i: i, j: j, l: l)
                    let base = ((pixel.t * config.height + pixel.h) * config.width + pixel.w) * c
                    for ch in 0..<c { result[v][base + ch] = nll[ch][v * positions + position] }
                }
            }
        }
        return result
    }
}
