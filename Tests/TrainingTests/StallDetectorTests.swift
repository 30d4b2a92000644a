// The stall watchdog: its bounds under `auto` and explicit settings (StallPolicy, driven
// directly), the thread with a stand-in for the peer heartbeat, and the config setting. End to end under
// mpirun (a stopped rank ends the job, SIGUSR1 saves and stops): IntegrationTests/StallCommandLineTests.swift.
import Foundation
import Testing
import VTTestSupport
import Distribution
import VideoModel
@testable import Training

private final class Peers: PeerLiveness, @unchecked Sendable {
    private let lock = NSLock()
    private var states: [PeerStatus]
    init(_ states: [PeerStatus]) { self.states = states }
    func peers() -> [PeerStatus] { lock.withLock { states } }
    func set(_ states: [PeerStatus]) { lock.withLock { self.states = states } }
    func stop() {}
}

private final class Message: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    var text: String? { lock.withLock { value } }
    func set(_ text: String) { lock.withLock { value = text } }
}

@Suite struct StallPolicyTests {
    let alive = [PeerStatus(rank: 1, silentSeconds: 0.7), PeerStatus(rank: 2, silentSeconds: 1.2)]

    func verdict(_ timeout: StallTimeout = .auto, peers: [PeerStatus]? = nil, idle: Double, phase: StallPhase = .training,
                 step: Double = 0.5, save: Double = 0) -> String? {
        StallPolicy.verdict(timeout, peers: peers ?? alive, idleSeconds: idle, label: "step 7", phase: phase,
                            slowestStep: step, slowestSave: save)
    }

    @Test func aSilentPeerIsLostAfterTheAutoBoundAndNamed() throws {
        #expect(verdict(peers: [PeerStatus(rank: 1, silentSeconds: 44), PeerStatus(rank: 2, silentSeconds: 1)], idle: 44) == nil)
        let one = try #require(verdict(peers: [PeerStatus(rank: 1, silentSeconds: 46), PeerStatus(rank: 2, silentSeconds: 1)], idle: 1))
        #expect(one == "rank 1 stopped answering (no heartbeat for 46 s; stall timeout auto: 45 s): the process died or hangs, "
                + "or its host is unreachable (this rank's last progress: step 7)", "\(one)")
        let two = try #require(verdict(peers: [PeerStatus(rank: 1, silentSeconds: 50), PeerStatus(rank: 3, silentSeconds: 47)], idle: 1))
        #expect(two.hasPrefix("ranks 1, 3 stopped answering (no heartbeat for 50 s;"), "\(two)")
        // A rank that said it finished is no longer watched.
        #expect(verdict(peers: [PeerStatus(rank: 1, silentSeconds: 500, finished: true)], idle: 1) == nil)
    }

    @Test func aHealthySlowStepIsNeverAStall() {
        // Peers answer (their heartbeat thread runs whatever the step does): only the progress bound applies,
        // 10 × the slowest step measured, at least 60 s.
        #expect(verdict(idle: 59, step: 0.01) == nil)
        #expect(verdict(idle: 61, step: 0.01)?.contains("no progress for 61 s after step 7 (stall timeout auto: 60 s while training; every other rank still answers)") == true)
        #expect(verdict(idle: 900, step: 100) == nil)
        #expect(verdict(idle: 1001, step: 100) != nil)
        // Before the first step nothing is measured: 30 minutes for setup, resume and the first step.
        #expect(verdict(idle: 1700, phase: .startup, step: 0) == nil)
        #expect(verdict(idle: 1801, phase: .startup, step: 0) != nil)
    }

    @Test func aLongCheckpointWriteIsNeverAStall() {
        // Inside a save (rank 0 writes, the others wait): 5 × the slowest save, at least 10 minutes.
        #expect(verdict(idle: 590, phase: .checkpoint, save: 0) == nil)
        #expect(verdict(idle: 601, phase: .checkpoint, save: 0)?.contains("while checkpoint") == true)
        #expect(verdict(idle: 990, phase: .checkpoint, save: 200) == nil)
        #expect(verdict(idle: 1001, phase: .checkpoint, save: 200) != nil)
        // A lost peer still ends it within the peer bound.
        #expect(verdict(peers: [PeerStatus(rank: 2, silentSeconds: 46)], idle: 30, phase: .checkpoint)?.hasPrefix("rank 2 stopped") == true)
    }

    @Test func anExplicitValueSetsBothBoundsAndZeroTurnsItOff() {
        #expect(verdict(.seconds(20), peers: [PeerStatus(rank: 1, silentSeconds: 21)], idle: 1)?.contains("(no heartbeat for 21 s; stall timeout 20 s): the process died") == true)
        #expect(verdict(.seconds(20), idle: 21, phase: .checkpoint, save: 1000) != nil)
        #expect(verdict(.seconds(20), idle: 19, phase: .startup) == nil)
        #expect(verdict(.seconds(0), peers: [PeerStatus(rank: 1, silentSeconds: 1e6)], idle: 1e6) == nil)
    }
}

@Suite struct StallDetectorTests {
    @Test func theThreadFiresOnlyWithoutProgress() {
        let message = Message()
        let detector = StallDetector(timeout: .seconds(0.4), peers: Peers([PeerStatus(rank: 1, silentSeconds: 0)])) { message.set($0) }
        for step in 0..<6 { Thread.sleep(forTimeInterval: 0.1); detector.stepFinished(step, seconds: 0.1) }
        #expect(message.text == nil)
        Thread.sleep(forTimeInterval: 1.0)
        #expect(message.text?.contains("after step 5") == true, "\(message.text ?? "no stall reported")")
        detector.stop()
    }

    @Test func theThreadNamesASilentPeerWhileThisRankProgresses() {
        let message = Message(), peers = Peers([PeerStatus(rank: 1, silentSeconds: 0), PeerStatus(rank: 2, silentSeconds: 0)])
        let detector = StallDetector(timeout: .seconds(0.5), peers: peers) { message.set($0) }
        defer { detector.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        peers.set([PeerStatus(rank: 1, silentSeconds: 0.1), PeerStatus(rank: 2, silentSeconds: 0.9)])
        for step in 0..<10 where message.text == nil { Thread.sleep(forTimeInterval: 0.1); detector.beat("evaluation batch \(step)") }
        #expect(message.text?.hasPrefix("rank 2 stopped answering") == true, "\(message.text ?? "no stall reported")")
    }

    @Test func savingUsesTheSaveBoundAndMeasuresTheSave() {
        let message = Message()
        let detector = StallDetector(timeout: .auto, peers: nil) { message.set($0) }
        defer { detector.stop() }
        detector.stepFinished(1, seconds: 0.01)
        detector.saving("saving the checkpoint of step 1") { Thread.sleep(forTimeInterval: 0.2) }
        #expect(detector.check() == nil && message.text == nil)
    }

    @Test func theSettingReadsAutoOrSeconds() throws {
        func decode(_ value: String) throws -> StallTimeout {
            try ConfigFile.decode(DistributionSettings.self, yaml: "stall_timeout_seconds: \(value)\n", source: "d.yaml").stallTimeout
        }
        #expect(DistributionSettings().stallTimeout == .auto)
        #expect(try decode("auto") == .auto)
        #expect(try decode("90") == .seconds(90))
        #expect(try decode("0") == .seconds(0))
        #expect(throws: ConfigError.self) { try decode("soon") }
        var negative = DistributionSettings(); negative.stallTimeout = .seconds(-1)
        #expect(throws: ConfigError.self) { try negative.validate() }
        // Stored in checkpoints as JSON, read back the same.
        for value in [StallTimeout.auto, .seconds(12.5)] {
            let data = try JSONEncoder().encode(DistributionSettings(stallTimeout: value))
            #expect(try JSONDecoder().decode(DistributionSettings.self, from: data).stallTimeout == value)
        }
    }
}
