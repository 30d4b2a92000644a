// StopSignals: SIGTERM (Slurm preemption, `kill`), SIGINT (Ctrl-C) and SIGUSR1 become a request to stop at
// the next step boundary, after a checkpoint; a second signal ends the process at once (the default action).
// SIGUSR1 is for `mpirun` jobs: mpirun answers SIGTERM by killing the ranks, but passes SIGUSR1 on to them,
// so `kill -USR1 <mpirun>` is "save and stop" across hosts.
// Signals are received on a dispatch queue (DispatchSource), so nothing runs inside a signal handler.
//
// Leaves out: "checkpoint and continue", SIGKILL (cannot be caught — crash safety covers it).

import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class StopSignals: @unchecked Sendable {  // `received` is guarded by `lock`
    public let signals: [Int32]
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Installs handlers for `signals` (unless `install` is false: tests call `request`). `onFirst` runs
    /// on a dispatch queue when the first signal arrives.
    public init(signals: [Int32] = [SIGTERM, SIGINT, SIGUSR1], install: Bool = true, onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.signals = signals
        guard install else { return }
        for number in signals {
            signal(number, SIG_IGN)  // the dispatch source, not the default action, handles it now
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global(qos: .userInitiated))
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.request(number) {
                    onFirst(number)
                } else {
                    // Second signal: the user insists. Restore the default action and take it.
                    signal(number, SIG_DFL)
                    raise(number)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit { uninstall() }

    /// Records a stop request; returns true for the first one.
    @discardableResult
    public func request(_ signal: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard received == nil else { return false }
        received = signal
        return true
    }

    /// The first signal received, if any.
    public var receivedSignal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Cancels the handlers and restores the default actions.
    public func uninstall() {
        for source in sources { source.cancel() }
        if !sources.isEmpty { for number in signals { signal(number, SIG_DFL) } }
        sources = []
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(signal)"
        }
    }
}
