// DistributionSettings: the `distribution:` section of a run config — how data-parallel ranks talk.

import Foundation
import VideoModel

public struct DistributionSettings: Codable, Equatable, Sendable {
    /// Gradient all-reduce bucket size in MB (10^6 bytes); buckets start while backward still runs.
    public var bucketMegabytes: Double
    /// Verify that all ranks hold identical parameters every this many steps (and at start); 0 = only at start.
    public var checksumEvery: Int
    /// When a lost peer or a job that stopped progressing ends the run (StallDetector.swift): `auto`
    /// (default) or an explicit number of seconds for both bounds; 0 disables the watchdog.
    public var stallTimeout: StallTimeout
    /// Device mesh, e.g. "data=4,model=1"; nil = all ranks on the data axis. `--mesh` overrides it.
    public var mesh: String?
    /// ZeRO stage 1 over the data axis (docs/design.md §9): each data rank keeps and updates 1/D of the
    /// optimizer slots and master weights; gradients are reduce-scattered, parameters all-gathered.
    public var shardOptimizer: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bucketMegabytes = "bucket_mb", checksumEvery = "checksum_every"
        case stallTimeout = "stall_timeout_seconds", mesh, shardOptimizer = "shard_optimizer"
    }

    public init(bucketMegabytes: Double = 25, checksumEvery: Int = 100, stallTimeout: StallTimeout = .auto, mesh: String? = nil,
                shardOptimizer: Bool = false) {
        self.bucketMegabytes = bucketMegabytes; self.checksumEvery = checksumEvery
        self.stallTimeout = stallTimeout; self.mesh = mesh; self.shardOptimizer = shardOptimizer
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DistributionSettings()
        bucketMegabytes = try c.decodeIfPresent(Double.self, forKey: .bucketMegabytes) ?? defaults.bucketMegabytes
        checksumEvery = try c.decodeIfPresent(Int.self, forKey: .checksumEvery) ?? defaults.checksumEvery
        stallTimeout = try c.decodeIfPresent(StallTimeout.self, forKey: .stallTimeout) ?? defaults.stallTimeout
        mesh = try c.decodeIfPresent(String.self, forKey: .mesh)
        shardOptimizer = try c.decodeIfPresent(Bool.self, forKey: .shardOptimizer) ?? defaults.shardOptimizer
    }

    public func validate() throws {
        if !(bucketMegabytes > 0) { throw ConfigError("distribution.bucket_mb: must be positive (got \(bucketMegabytes))") }
        if checksumEvery < 0 { throw ConfigError("distribution.checksum_every: must be at least 0 (got \(checksumEvery))") }
        if case .seconds(let seconds) = stallTimeout, !(seconds >= 0 && seconds.isFinite) {
            throw ConfigError("distribution.stall_timeout_seconds: must be auto or a number of seconds, at least 0 (got \(seconds))")
        }
    }
}

/// `distribution.stall_timeout_seconds`: `auto`, or seconds (0 = no watchdog). Stored as the string
/// "auto" or a number.
public enum StallTimeout: Codable, Equatable, Sendable, CustomStringConvertible {
    case auto
    case seconds(Double)

    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let seconds = try? value.decode(Double.self) {
            self = .seconds(seconds)
        } else if let text = try? value.decode(String.self), text == "auto" {
            self = .auto
        } else {
            throw ConfigError("distribution.stall_timeout_seconds: must be auto or a number of seconds (0 turns the watchdog off)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .auto: try value.encode("auto")
        case .seconds(let seconds): try value.encode(seconds)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .seconds(let seconds): String(format: "%g s", seconds)
        }
    }
}
