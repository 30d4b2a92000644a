// DistributionSettings: the `distribution:` section of a run config — how data-parallel ranks talk.

import Foundation
import VideoModel

public struct DistributionSettings: Codable, Equatable, Sendable {
    /// Gradient all-reduce bucket size in MB (10^6 bytes); buckets start while backward still runs.
    public var bucketMegabytes: Double
    /// Verify that all ranks hold identical parameters every this many steps (and at start); 0 = only at start.
    public var checksumEvery: Int
    /// End the job when a step makes no progress for this long (a dead or hung rank); 0 disables.
    public var stallTimeoutSeconds: Double
    /// Device mesh, e.g. "data=4,model=1"; nil = all ranks on the data axis. `--mesh` overrides it.
    public var mesh: String?
    /// ZeRO stage 1 over the data axis (DESIGN.md §9): each data rank keeps and updates 1/D of the
    /// optimizer slots and master weights; gradients are reduce-scattered, parameters all-gathered.
    public var shardOptimizer: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bucketMegabytes = "bucket_mb", checksumEvery = "checksum_every"
        case stallTimeoutSeconds = "stall_timeout_seconds", mesh, shardOptimizer = "shard_optimizer"
    }

    public init(bucketMegabytes: Double = 25, checksumEvery: Int = 100, stallTimeoutSeconds: Double = 600, mesh: String? = nil,
                shardOptimizer: Bool = false) {
        self.bucketMegabytes = bucketMegabytes; self.checksumEvery = checksumEvery
        self.stallTimeoutSeconds = stallTimeoutSeconds; self.mesh = mesh; self.shardOptimizer = shardOptimizer
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DistributionSettings()
        bucketMegabytes = try c.decodeIfPresent(Double.self, forKey: .bucketMegabytes) ?? defaults.bucketMegabytes
        checksumEvery = try c.decodeIfPresent(Int.self, forKey: .checksumEvery) ?? defaults.checksumEvery
        stallTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .stallTimeoutSeconds) ?? defaults.stallTimeoutSeconds
        mesh = try c.decodeIfPresent(String.self, forKey: .mesh)
        shardOptimizer = try c.decodeIfPresent(Bool.self, forKey: .shardOptimizer) ?? defaults.shardOptimizer
    }

    public func validate() throws {
        if !(bucketMegabytes > 0) { throw ConfigError("distribution.bucket_mb: must be positive (got \(bucketMegabytes))") }
        if checksumEvery < 0 { throw ConfigError("distribution.checksum_every: must be at least 0 (got \(checksumEvery))") }
        if stallTimeoutSeconds < 0 { throw ConfigError("distribution.stall_timeout_seconds: must be at least 0 (got \(stallTimeoutSeconds))") }
    }
}
