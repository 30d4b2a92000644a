// Watchdog: the stall watchdog of one rank of a multi-rank job, with the heartbeat it listens to — the one
// thing the trainer and the loop around it tell about progress. A finished step, an evaluation batch and a
// checkpoint tensor are progress (`stepFinished`, `beat`); a save runs under the save bound (`saving`).
// When a peer falls silent or this rank stops progressing, the job ends with a message naming the ranks
// and what this rank was doing (MPI_Abort, exit 3), instead of hanging in a collective.
//
// With one rank in the world, or `distribution.stall_timeout_seconds: 0`, it watches nothing and every call
// is free. Leaves out: the bounds and the verdict (StallDetector.swift: StallPolicy), the heartbeat's
// messages (Distribution/PeerHeartbeat.swift).

import Foundation
import Distribution

public final class Watchdog {
    /// Nil: nothing to watch (one rank, or the watchdog is off).
    private let detector: StallDetector?

    /// Starts the heartbeat over `world` and the watchdog thread — collective (the heartbeat duplicates
    /// the communicator), so every rank starts together and no peer looks late.
    init(world: any Communicator, timeout: StallTimeout) throws {
        guard world.size > 1 && timeout != .seconds(0) else { detector = nil; return }
        let rank = world.rank
        let heartbeat = try PeerHeartbeat.start(on: world)
        detector = StallDetector(timeout: timeout, peers: heartbeat) { message in
            FileHandle.standardError.write(Data("error: rank \(rank): \(message); ending the job\n".utf8))
            MPIRuntime.abort(code: 3)
        }
    }

    deinit { detector?.stop() }

    /// Work other than a step (an evaluation batch, a checkpoint tensor) is progressing.
    public func beat(_ label: String) { detector?.beat(label) }

    /// Step `step` finished after `seconds` (progress, and the measurement the `auto` bound grows with).
    public func stepFinished(_ step: Int, seconds: Double) { detector?.stepFinished(step, seconds: seconds) }

    /// Runs a checkpoint save (every rank, collectively) under the save bound.
    public func saving<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
        guard let detector else { return try body() }
        return try detector.saving(label, body)
    }

    /// Ends the watchdog and says "finished" to the other ranks (training is over; idempotent).
    public func stop() { detector?.stop() }
}
