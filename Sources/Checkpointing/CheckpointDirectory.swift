// CheckpointDirectory: the checkpoints of one run, `<directory>/step_<NNNNNNNN>.h5`, plus a `latest`
// pointer file naming the newest one — saved crash-safely, pruned by a retention policy, and searched
// newest-first for one that is intact.
//
// Commit protocol (a crash at any point leaves every committed checkpoint and `latest` intact):
//   1. write `.step_<NNNNNNNN>.h5.tmp.<pid>` completely, close, fsync       (CheckpointWriter)
//   2. rename it to `step_<NNNNNNNN>.h5`, fsync the directory
//   3. write `.latest.tmp.<pid>`, fsync, rename to `latest`, fsync the directory
//   4. delete checkpoints the retention policy no longer keeps (never the one just written)
// A failure in 1–3 removes the temporary file and throws; older checkpoints and `latest` are untouched.
// Temporary files left by a killed process are removed by `removeStaleTemporaryFiles()` at start.
//
// Leaves out: which process writes (the caller makes sure only rank 0 does), what the tensors are.

import Foundation

/// Which checkpoints to keep: the newest `keepLast`, every milestone step, and always the newest one
/// (the one `latest` names — so a run's final checkpoint is never deleted by its own retention).
public struct RetentionPolicy: Equatable, Sendable {
    public var keepLast: Int
    public var milestones: Set<Int>

    public init(keepLast: Int, milestones: Set<Int> = []) {
        self.keepLast = keepLast; self.milestones = milestones
    }

    /// The steps to keep among `steps`, given that `protected` (the newest save) is always kept.
    public func kept(_ steps: [Int], protecting protected: Int?) -> Set<Int> {
        var kept = Set(steps.sorted(by: >).prefix(max(0, keepLast)))
        kept.formUnion(steps.filter { milestones.contains($0) })
        if let protected { kept.insert(protected) }
        return kept
    }
}

/// What a save did, for the log.
public struct SaveReport: Sendable {
    public let url: URL
    public let bytes: Int
    public let seconds: Double
    /// The file's write (data, checksums, metadata, fsync); the rest of `seconds` is the commit.
    public let timings: CheckpointWriteTimings
    /// Checkpoints deleted by retention after this save.
    public let removed: [URL]
    public var megabytesPerSecond: Double { Double(bytes) / 1e6 / max(seconds, 1e-9) }
}

public final class CheckpointDirectory {
    public let url: URL
    public var hooks: CheckpointWriteHooks

    public static let pointerName = "latest"

    public init(url: URL, hooks: CheckpointWriteHooks = .fromEnvironment()) {
        self.url = url
        self.hooks = hooks
    }

    public func checkpointURL(step: Int) -> URL { url.appendingPathComponent(CheckpointFormat.fileName(step: step)) }

    /// Creates the directory if needed and removes temporary files a killed writer left behind;
    /// returns their names.
    @discardableResult
    public func prepare() throws -> [String] {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(.saveFailed, file: url.path, "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        return try removeStaleTemporaryFiles()
    }

    /// Removes `.step_*.tmp.*` and `.latest.tmp.*` files (a writer killed mid-save leaves them).
    @discardableResult
    public func removeStaleTemporaryFiles() throws -> [String] {
        var removed: [String] = []
        for name in try names() where Self.isTemporary(name) {
            try? FileManager.default.removeItem(at: url.appendingPathComponent(name))
            removed.append(name)
        }
        return removed.sorted()
    }

    static func isTemporary(_ name: String) -> Bool {
        (name.hasPrefix(".step_") || name.hasPrefix(".\(pointerName)")) && name.contains(".tmp")
    }

    /// The committed checkpoints, oldest first.
    public func checkpoints() throws -> [(step: Int, url: URL)] {
        try names().compactMap { name in CheckpointFormat.step(fromFileName: name).map { ($0, url.appendingPathComponent(name)) } }
            .sorted { $0.step < $1.step }
    }

    /// The file `latest` names, if the pointer exists and names a checkpoint file.
    public func latestPointer() -> URL? {
        guard let text = try? String(contentsOf: url.appendingPathComponent(Self.pointerName), encoding: .utf8) else { return nil }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard CheckpointFormat.step(fromFileName: name) != nil else { return nil }
        return url.appendingPathComponent(name)
    }

    /// Where to look when resuming, best first: the file `latest` names, then every checkpoint by
    /// decreasing step.
    public func candidates() throws -> [URL] {
        var result: [URL] = []
        if let pointer = latestPointer(), FileManager.default.fileExists(atPath: pointer.path) { result.append(pointer) }
        for (_, file) in try checkpoints().reversed() where !result.contains(file) { result.append(file) }
        return result
    }

    /// Saves `contents` as `step_<contents.step>.h5` by the commit protocol above, moves `latest` to it
    /// and applies `retention`. Throws `CheckpointError(.saveFailed)` (after removing its temporary
    /// file) without touching earlier checkpoints or `latest`.
    @discardableResult
    public func save(_ contents: CheckpointContents, retention: RetentionPolicy?) throws -> SaveReport {
        let start = Date()
        let name = CheckpointFormat.fileName(step: contents.step)
        let pid = ProcessInfo.processInfo.processIdentifier
        let temporary = url.appendingPathComponent(".\(name).tmp.\(pid)").path
        let final = url.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(.saveFailed, file: final.path, "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        var timings = CheckpointWriteTimings()
        do {
            timings = try CheckpointWriter.write(contents, to: temporary, hooks: hooks)
            try Durability.rename(temporary, to: final.path)
            try Durability.fsync(path: url.path, isDirectory: true)
        } catch let error as CheckpointError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError(.saveFailed, file: final.path, object: error.object, "was not saved: \(error.reason)")
        }
        try Durability.writeAtomically(name + "\n", to: url.appendingPathComponent(Self.pointerName).path,
                                       temporary: url.appendingPathComponent(".\(Self.pointerName).tmp.\(pid)").path)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: final.path)[.size] as? Int) ?? contents.tensorBytes
        let seconds = Date().timeIntervalSince(start)  // retention is housekeeping, not part of the save
        let removed = try retention.map { try prune($0, protecting: contents.step) } ?? []
        return SaveReport(url: final, bytes: bytes, seconds: seconds, timings: timings, removed: removed)
    }

    /// Deletes the checkpoints `policy` does not keep (never `protected`); returns them.
    @discardableResult
    public func prune(_ policy: RetentionPolicy, protecting protected: Int?) throws -> [URL] {
        let all = try checkpoints()
        let kept = policy.kept(all.map(\.step), protecting: protected)
        var removed: [URL] = []
        for (step, file) in all where !kept.contains(step) {
            if (try? FileManager.default.removeItem(at: file)) != nil { removed.append(file) }
        }
        return removed
    }

    private func names() throws -> [String] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        do { return try FileManager.default.contentsOfDirectory(atPath: url.path) } catch {
            throw CheckpointError(.unreadable, file: url.path, "cannot list the checkpoint directory: \(error.localizedDescription)")
        }
    }
}

// MARK: - Finding an intact checkpoint

/// A checkpoint file that failed to load while looking for an intact one.
public struct SkippedCheckpoint: Sendable {
    public let url: URL
    public let error: CheckpointError
}

extension CheckpointDirectory {
    /// Tries the candidates best first: opens each and hands it to `load` (which reads and so verifies
    /// it). A candidate that is unreadable or damaged is skipped and reported through `skipped`; any
    /// other error (a mismatch: another model) stops the search. Returns the step and file loaded, or
    /// nil when there is no checkpoint at all or every one is damaged (see `skipped`).
    public func loadNewestIntact(skipped: (SkippedCheckpoint) -> Void,
                                 load: (CheckpointFile) throws -> Void) throws -> (step: Int, url: URL)? {
        for candidate in try candidates() {
            do {
                let file = try CheckpointFile(path: candidate.path)
                defer { file.close() }
                try load(file)
                return (file.step, candidate)
            } catch let error as CheckpointError where error.isDamage {
                skipped(SkippedCheckpoint(url: candidate, error: error))
            }
        }
        return nil
    }
}
