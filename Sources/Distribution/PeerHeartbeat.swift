// PeerHeartbeat: which ranks are still answering, whatever the main thread is doing. A thread per rank
// sends a 16-byte message to every other rank each `interval` seconds on a private duplicate of the
// communicator (MPI_Isend) and polls for theirs (MPI_Irecv from any source, MPI_Test; Open MPI does not
// progress requests by itself). A rank that computes a slow step, writes a long checkpoint or waits in a
// collective keeps answering; a rank whose process died, was stopped (SIGSTOP, a hung node) or whose
// link went silent does not. The stall watchdog (Training/StallDetector.swift) reads `peers()`.
//
// At most one send per peer is in flight: a peer that does not drain its messages gets no more until it
// does, so a lost peer costs nothing. `stop()` tells the others "finished" (they stop watching this rank),
// then cancels the receive; MPIRuntime stops every heartbeat before MPI_Finalize.
// Needs MPI_THREAD_MULTIPLE (under SERIALIZED the process-wide lock would hold the thread out for the
// whole of a blocking collective): `start` returns nil without it, and for one rank or no MPI.
#if canImport(Glibc)
import Common
import Glibc
#endif
import CMPI
import Foundation
import _MPIShims

/// What one rank knows of another's liveness.
public struct PeerStatus: Equatable, Sendable {
    public var rank: Int
    /// Seconds since the last message from this rank (since the heartbeat started, before the first one).
    public var silentSeconds: Double
    /// The rank said it finished (stopped its heartbeat on purpose): no longer watched.
    public var finished: Bool

    public init(rank: Int, silentSeconds: Double, finished: Bool = false) {
        self.rank = rank; self.silentSeconds = silentSeconds; self.finished = finished
    }
}

/// A source of peer liveness for the stall watchdog (PeerHeartbeat, or a test's stand-in).
public protocol PeerLiveness: AnyObject, Sendable {
    /// Every other rank's status, in rank order.
    func peers() -> [PeerStatus]
    func stop()
}

public final class PeerHeartbeat: PeerLiveness, @unchecked Sendable {  // mutable state is guarded by `lock`
    public let interval: Double
    private let communicator: MPICommunicator
    private let lock = NSLock()
    private var lastHeard: [Double]
    private var finished: [Bool]
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)
    private var thread: Thread?

    private static let tag: Int32 = 0x7674  // "vt"
    private static let aliveMessage: Int64 = 1, finishedMessage: Int64 = 2
    private nonisolated(unsafe) static var running: [PeerHeartbeat] = []
    private static let runningLock = NSLock()

    /// Starts the heartbeat over `communicator`'s ranks (collective: every rank calls it), or returns nil
    /// when there is nothing to watch or it cannot run (one rank, no MPI, MPI without THREAD_MULTIPLE).
    public static func start(on communicator: any Communicator, interval: Double = 1) throws -> PeerHeartbeat? {
        guard communicator.size > 1, let mpi = communicator as? MPICommunicator, MPIRuntime.allowsConcurrentCalls else { return nil }
        let heartbeat = try PeerHeartbeat(communicator: try mpi.duplicate(), interval: interval)
        runningLock.withLock { running.append(heartbeat) }
        return heartbeat
    }

    private init(communicator: MPICommunicator, interval: Double) throws {
        self.communicator = communicator
        self.interval = interval
        let now = monotonicSeconds()
        lastHeard = Array(repeating: now, count: communicator.size)
        finished = Array(repeating: false, count: communicator.size)
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "vt-heartbeat"
        self.thread = thread
        thread.start()
    }

    public func peers() -> [PeerStatus] {
        let now = monotonicSeconds()
        return lock.withLock {
            (0..<communicator.size).filter { $0 != communicator.rank }.map {
                PeerStatus(rank: $0, silentSeconds: now - lastHeard[$0], finished: finished[$0])
            }
        }
    }

    /// Says "finished" to the other ranks and ends the thread (idempotent; waits at most ~2 s).
    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopping = true }
            return !stopping && thread != nil
        }
        guard first else { return }
        _ = done.wait(timeout: .now() + 3)
    }

    /// Stops every heartbeat still running (MPIRuntime calls this before MPI_Finalize).
    static func stopAll() {
        let all = runningLock.withLock { () -> [PeerHeartbeat] in defer { running = [] }; return running }
        for heartbeat in all { heartbeat.stop() }
    }

    // MARK: The thread

    private func loop() {
        let size = communicator.size, me = communicator.rank
        let handle = communicator.handle
        // Stable buffers: MPI reads and writes them after the calls return.
        let outgoing = UnsafeMutablePointer<Int64>.allocate(capacity: 2 * size)
        let incoming = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        defer { outgoing.deallocate(); incoming.deallocate() }
        var sends = [MPI_Request?](repeating: vt_mpi_request_null(), count: size)
        var receive: MPI_Request? = vt_mpi_request_null()
        var failed = false
        func check(_ status: Int32) { if status != vt_mpi_success() { failed = true } }

        func postReceive() {
            check(MPI_Irecv(incoming, 2, vt_mpi_int64(), MPI_ANY_SOURCE, Self.tag, handle, &receive))
        }
        /// Whether the previous send to `peer` is done (so its buffer may be reused).
        func sendIsFree(_ peer: Int) -> Bool {
            if sends[peer] == vt_mpi_request_null() { return true }
            var flag: Int32 = 0
            check(MPI_Test(&sends[peer], &flag, vt_mpi_status_ignore()))
            return flag != 0
        }
        func sendAll(_ message: Int64) {
            for peer in 0..<size where peer != me && sendIsFree(peer) {
                outgoing[2 * peer] = message
                outgoing[2 * peer + 1] = Int64(me)
                check(MPI_Isend(outgoing + 2 * peer, 2, vt_mpi_int64(), Int32(peer), Self.tag, handle, &sends[peer]))
            }
        }
        func drainReceived() {
            while !failed {
                var flag: Int32 = 0
                var status = MPI_Status()
                check(MPI_Test(&receive, &flag, &status))
                guard flag != 0 else { return }
                let source = Int(status.MPI_SOURCE)
                if source >= 0 && source < size {
                    let now = monotonicSeconds()
                    lock.withLock {
                        lastHeard[source] = now
                        if incoming[0] == Self.finishedMessage { finished[source] = true }
                    }
                }
                postReceive()
            }
        }

        postReceive()
        var nextSend = 0.0
        while !failed && !lock.withLock({ stopping }) {
            drainReceived()
            let now = monotonicSeconds()
            if now >= nextSend {
                sendAll(Self.aliveMessage)
                nextSend = now + interval
            }
            Thread.sleep(forTimeInterval: min(0.1, interval / 4))
        }
        if !failed {
            // "finished" to every peer that drained the last message, given a moment to leave.
            sendAll(Self.finishedMessage)
            let deadline = monotonicSeconds() + 1
            while monotonicSeconds() < deadline && !(0..<size).allSatisfy({ $0 == me || sendIsFree($0) }) {
                Thread.sleep(forTimeInterval: 0.01)
            }
            for peer in 0..<size where sends[peer] != vt_mpi_request_null() { _ = MPI_Request_free(&sends[peer]) }
            if receive != vt_mpi_request_null() {
                _ = MPI_Cancel(&receive)
                _ = MPI_Wait(&receive, vt_mpi_status_ignore())
            }
        }
        done.signal()
    }
}
