// ProgressLine: a live, rewritten status line on a terminal (step/total, loss, bits/dim, steps/s, ETA);
// plain lines every `every` steps when stderr is not a terminal (logs, CI, Slurm).

import Foundation

public final class ProgressLine {
    public let total: Int
    public let every: Int
    public let isTerminal: Bool
    private var lastWidth = 0

    public init(total: Int, every: Int, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.total = total; self.every = every; self.isTerminal = isTerminal
    }

    public func update(step: Int, text: String, stepsPerSecond: Double) {
        let remaining = Double(total - step) / max(stepsPerSecond, 1e-9)
        let line = "step \(step)/\(total)  \(text)  \(String(format: "%.2f", stepsPerSecond)) steps/s  ETA \(Self.duration(remaining))"
        if isTerminal {
            let padding = String(repeating: " ", count: max(0, lastWidth - line.count))
            FileHandle.standardError.write(Data(("\r" + line + padding).utf8))
            lastWidth = line.count
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if step % every == 0 || step == total {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends a live line before other output.
    public func interrupt() {
        if isTerminal && lastWidth > 0 { FileHandle.standardError.write(Data("\n".utf8)); lastWidth = 0 }
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
