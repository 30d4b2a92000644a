// CheckpointSettings: the `checkpoint:` section of a run config — when to save, what to keep, where.
//
//   checkpoint:
//     every: 1000              # save every 1000 global steps (0: only at the end and on SIGTERM/SIGINT)
//     keep_last: 3             # keep the newest 3 ...
//     milestones: [300000]     # ... plus these steps, forever (and always the newest, i.e. the final one)
//     directory: Checkpoints/x # default Checkpoints/<run name> (the config file's name)

import Foundation
import VideoModel

public struct CheckpointSettings: Codable, Equatable, Sendable {
    /// Save every `every` global steps; 0 saves only the final checkpoint (and one on SIGTERM/SIGINT).
    public var every: Int
    /// How many of the newest checkpoints to keep (milestones and the newest are kept regardless).
    public var keepLast: Int
    /// Steps whose checkpoints are kept forever (also saved when `every` does not hit them).
    public var milestones: [Int]
    /// Where the run's checkpoints go; nil means `Checkpoints/<run name>`.
    public var directory: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case every, keepLast = "keep_last", milestones, directory
    }

    public init(every: Int = 1000, keepLast: Int = 3, milestones: [Int] = [], directory: String? = nil) {
        self.every = every; self.keepLast = keepLast; self.milestones = milestones; self.directory = directory
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = CheckpointSettings()
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? defaults.every
        keepLast = try c.decodeIfPresent(Int.self, forKey: .keepLast) ?? defaults.keepLast
        milestones = try c.decodeIfPresent([Int].self, forKey: .milestones) ?? defaults.milestones
        directory = try c.decodeIfPresent(String.self, forKey: .directory)
    }

    public func validate() throws {
        func fail(_ field: String, _ rule: String) throws { throw ConfigError("checkpoint.\(field): \(rule)") }
        if every < 0 { try fail("every", "must be at least 0 (0 saves only at the end; got \(every))") }
        if keepLast < 0 { try fail("keep_last", "must be at least 0 (got \(keepLast))") }
        if let bad = milestones.first(where: { $0 < 1 }) { try fail("milestones", "steps must be at least 1 (got \(bad))") }
        if let directory, directory.trimmingCharacters(in: .whitespaces).isEmpty {
            try fail("directory", "must not be empty (leave it out for Checkpoints/<run name>)")
        }
    }

    /// Whether the schedule saves after global step `step` (periodic or milestone).
    public func isScheduled(step: Int) -> Bool {
        (every > 0 && step > 0 && step % every == 0) || milestones.contains(step)
    }
}
