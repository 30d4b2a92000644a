// StallDetector: the watchdog that ends a multi-rank job instead of letting it hang in a collective. It
// watches two things on every rank:
//   - its peers (Distribution/PeerHeartbeat.swift): a rank whose heartbeat is silent for the peer bound
//     died, was stopped, or sits behind a dead link. The heartbeat runs on its own thread, so slow steps
//     and long checkpoint writes never look like silence.
//   - its own progress (a beat after every step, evaluation batch and checkpoint tensor): no progress for
//     the progress bound while every peer answers is a hang (a deadlock, a stuck file system).
// `stall_timeout_seconds: auto` (the default) derives the bounds from what it measured (`StallPolicy`);
// a number sets both bounds; 0 turns the watchdog off. When a bound is passed, the message names the
// ranks and what this rank was doing, and `onStall` ends the job (vt: MPI_Abort, exit 3).

import Common
import Foundation
import Distribution

/// What the rank is doing, for the progress bound.
public enum StallPhase: String, Sendable {
    /// Before the first step finished: nothing measured yet.
    case startup
    /// Steps and evaluations.
    case training
    /// Inside a checkpoint save (rank 0 writes, the others wait for it).
    case checkpoint
}

/// The bounds and the decision, separate from the thread so that tests can drive them.
public enum StallPolicy {
    /// `auto`: a peer silent this long is lost (the heartbeat answers every second).
    public static let autoPeerSilence = 45.0
    /// `auto`: the progress bound is the larger of this and `autoStepMultiple` × the slowest step.
    public static let autoMinimumProgress = 60.0
    public static let autoStepMultiple = 10.0
    /// `auto`: inside a checkpoint save, the larger of this and `autoSaveMultiple` × the slowest save.
    public static let autoMinimumSave = 600.0
    public static let autoSaveMultiple = 5.0
    /// `auto`: before the first step (setup, resume, the first step itself), nothing measured yet.
    public static let autoStartup = 1800.0

    /// The peer-silence bound (nil: off).
    public static func peerBound(_ timeout: StallTimeout) -> Double? {
        switch timeout {
        case .auto: autoPeerSilence
        case .seconds(let seconds): seconds > 0 ? seconds : nil
        }
    }

    /// The progress bound in `phase`, given the slowest step and save measured so far (nil: off).
    public static func progressBound(_ timeout: StallTimeout, phase: StallPhase, slowestStep: Double, slowestSave: Double) -> Double? {
        switch timeout {
        case .seconds(let seconds): return seconds > 0 ? seconds : nil
        case .auto:
            switch phase {
            case .startup: return autoStartup
            case .training: return max(autoMinimumProgress, autoStepMultiple * slowestStep)
            case .checkpoint: return max(autoMinimumSave, autoSaveMultiple * slowestSave)
            }
        }
    }

    /// The message that ends the job, or nil while everything is within its bounds.
    public static func verdict(_ timeout: StallTimeout, peers: [PeerStatus], idleSeconds: Double, label: String,
                               phase: StallPhase, slowestStep: Double, slowestSave: Double) -> String? {
        func setting(_ bound: Double) -> String { timeout == .auto ? "stall timeout auto: \(Int(bound)) s" : "stall timeout \(Int(bound)) s" }
        if let bound = peerBound(timeout) {
            let lost = peers.filter { !$0.finished && $0.silentSeconds > bound }
            if !lost.isEmpty {
                let ranks = lost.map { String($0.rank) }.joined(separator: ", ")
                let longest = Int(lost.map(\.silentSeconds).max()!)
                return "rank\(lost.count > 1 ? "s" : "") \(ranks) stopped answering (no heartbeat for \(longest) s; "
                    + "\(setting(bound))): the process died or hangs, or its host is unreachable (this rank's last progress: \(label))"
            }
        }
        if let bound = progressBound(timeout, phase: phase, slowestStep: slowestStep, slowestSave: slowestSave), idleSeconds > bound {
            let answering = peers.isEmpty ? "" : "; every other rank still answers"
            return "no progress for \(Int(idleSeconds)) s after \(label) (\(setting(bound)) while \(phase.rawValue)"
                + "\(answering)): a rank hangs"
        }
        return nil
    }
}

/// The watchdog thread (see the file comment). `stop()` ends it.
public final class StallDetector: @unchecked Sendable {  // mutable state is guarded by `lock`
    public let timeout: StallTimeout
    private let peers: (any PeerLiveness)?
    private let lock = NSLock()
    private var lastBeat = monotonicSeconds()
    private var label = "start"
    private var phase = StallPhase.startup
    private var slowestStep = 0.0, slowestSave = 0.0
    private var stopped = false

    /// Starts watching. `peers` nil: only this rank's progress. `onStall` runs once, on the thread.
    public init(timeout: StallTimeout, peers: (any PeerLiveness)?, onStall: @escaping @Sendable (String) -> Void) {
        self.timeout = timeout
        self.peers = peers
        let poll = min(1, (StallPolicy.peerBound(timeout) ?? 4) / 4)
        let thread = Thread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: poll)
                guard let message = self.check() else {
                    if self.lock.withLock({ self.stopped }) { return }
                    continue
                }
                onStall(message)
                return
            }
        }
        thread.name = "vt-stall-detector"
        thread.start()
    }

    /// The verdict now (nil: fine, or stopped).
    func check() -> String? {
        let peerStates = peers?.peers() ?? []
        return lock.withLock {
            guard !stopped else { return nil }
            return StallPolicy.verdict(timeout, peers: peerStates, idleSeconds: monotonicSeconds() - lastBeat, label: label,
                                       phase: phase, slowestStep: slowestStep, slowestSave: slowestSave)
        }
    }

    /// Progress other than a finished step (an evaluation batch, a checkpoint tensor).
    public func beat(_ label: String) {
        lock.withLock { lastBeat = monotonicSeconds(); self.label = label }
    }

    /// Step `step` finished after `seconds`: progress, and a measurement for the `auto` bound.
    public func stepFinished(_ step: Int, seconds: Double) {
        lock.withLock {
            lastBeat = monotonicSeconds(); label = "step \(step)"
            slowestStep = max(slowestStep, seconds)
            if phase == .startup { phase = .training }
        }
    }

    /// Runs a checkpoint save under the save bound and measures it.
    public func saving<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
        let start = monotonicSeconds()
        let previous = lock.withLock { () -> StallPhase in
            defer { phase = .checkpoint; lastBeat = start; self.label = label }
            return phase
        }
        defer {
            lock.withLock {
                let end = monotonicSeconds()
                slowestSave = max(slowestSave, end - start)
                phase = previous; lastBeat = end
            }
        }
        return try body()
    }

    /// Ends the watchdog and this rank's heartbeat ("finished" to the peers).
    public func stop() {
        lock.withLock { stopped = true }
        peers?.stop()
    }
}
