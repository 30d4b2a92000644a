// FFmpeg: ffmpeg as a subprocess (Foundation.Process) — decoding Kinetics clips to raw RGB frames, and
// encoding raw RGB images to PNG (contact sheets). Standard output and standard error are drained on their
// own threads so neither pipe can fill and stall ffmpeg; a run that exceeds its time limit is terminated.
//
// Not here: probing streams (not needed: we ask ffmpeg for exactly the frames we want and check the byte
// count), audio.

import Foundation

public enum FFmpeg {
    /// The ffmpeg executable on PATH, or a clear error naming the Debian package.
    public static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("ffmpeg").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw DatasetError(.invalidRequest("ffmpeg was not found on PATH (install it: apt-get install ffmpeg)"))
    }

    public struct Output: Sendable {
        public var status: Int32
        public var standardOutput: Data
        public var standardError: String
        public var timedOut: Bool
        /// The last non-empty line of standard error: usually ffmpeg's reason.
        public var reason: String {
            let lines = standardError.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.isEmpty }
            return lines.last ?? "no message"
        }
    }

    /// Runs ffmpeg with `arguments`, feeding `input` (if any) on standard input.
    public static func run(_ arguments: [String], input: Data? = nil, timeout: Double = 300) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        let inputPipe = input == nil ? nil : Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = inputPipe ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw DatasetError(.invalidRequest("cannot start ffmpeg: \(error.localizedDescription)"))
        }
        // Dedicated threads, not the shared Dispatch pool: callers may run several ffmpegs from pool threads
        // (concurrentPerform), and a pool with every thread blocked here could never drain the pipes.
        let group = DispatchGroup()
        final class Box: @unchecked Sendable { var data = Data() }
        let out = Box(), err = Box()
        func onThread(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread.detachNewThread { body(); group.leave() }
        }
        onThread { out.data = output.fileHandleForReading.readDataToEndOfFile() }
        onThread { err.data = errors.fileHandleForReading.readDataToEndOfFile() }
        if let inputPipe, let input {
            onThread {
                try? inputPipe.fileHandleForWriting.write(contentsOf: input)
                try? inputPipe.fileHandleForWriting.close()
            }
        }
        final class Flag: @unchecked Sendable { var value = false }
        let timedOut = Flag()
        let watchdog = DispatchWorkItem {
            if process.isRunning { timedOut.value = true; process.terminate() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
        group.wait()
        return Output(status: process.terminationStatus, standardOutput: out.data,
                      standardError: String(decoding: err.data, as: UTF8.self), timedOut: timedOut.value)
    }

    /// Writes UInt8 RGB [height, width, 3] `pixels` as a PNG at `path` (through a temporary file, renamed).
    public static func writePNG(_ pixels: [UInt8], width: Int, height: Int, to path: String) throws {
        precondition(pixels.count == width * height * 3, "writePNG: pixel count")
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid()).png").path
        let result = try run(["-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                              "-s", "\(width)x\(height)", "-i", "-", "-frames:v", "1", "-f", "image2", "-c:v", "png", temporary],
                             input: Data(pixels))
        guard result.status == 0, FileManager.default.fileExists(atPath: temporary) else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(.ioFailed(reason: "ffmpeg could not write the PNG: \(result.reason)"), file: path)
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}

/// How a Kinetics clip becomes a video: the first `frames` frames (at `framesPerSecond`, or the clip's own
/// rate), the shorter side scaled to `size` with area averaging, the centre `size` × `size` crop.
public struct KineticsDecodeOptions: Sendable, Equatable {
    public var frames: Int
    public var size: Int
    /// nil keeps the clip's own frame rate.
    public var framesPerSecond: Double?

    public init(frames: Int = 16, size: Int = 64, framesPerSecond: Double? = nil) {
        self.frames = frames; self.size = size; self.framesPerSecond = framesPerSecond
    }

    /// The ffmpeg filter graph: [fps=F,] scale the shorter side to S (area), crop the centre S×S.
    public var filter: String {
        let s = size
        var filters: [String] = []
        if let framesPerSecond { filters.append("fps=\(framesPerSecond)") }
        filters.append("scale='if(lte(iw,ih),\(s),-1)':'if(lte(iw,ih),-1,\(s))':flags=area")
        filters.append("crop=\(s):\(s)")
        return filters.joined(separator: ",")
    }

    public var bytesPerVideo: Int { frames * size * size * 3 }
}

public enum KineticsClipDecoder {
    /// The clip at `path` as UInt8 [frames, size, size, 3]; a DatasetError `.undecodableClip` naming the file
    /// if ffmpeg fails or yields fewer frames.
    public static func decode(_ path: String, options: KineticsDecodeOptions) throws -> [UInt8] {
        let result = try FFmpeg.run(["-nostdin", "-v", "error", "-i", path, "-an", "-sn", "-vf", options.filter,
                                     "-frames:v", String(options.frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                                    timeout: 600)
        if result.timedOut {
            throw DatasetError(.undecodableClip(reason: "ffmpeg did not finish within 600 s"), file: path)
        }
        guard result.status == 0 else {
            throw DatasetError(.undecodableClip(reason: "ffmpeg exited with status \(result.status): \(result.reason)"), file: path)
        }
        let frameBytes = options.size * options.size * 3
        guard result.standardOutput.count == options.bytesPerVideo else {
            throw DatasetError(.undecodableClip(reason: "only \(result.standardOutput.count / frameBytes) of "
                                                + "\(options.frames) frames decoded (the clip is too short or damaged)"),
                               file: path)
        }
        return [UInt8](result.standardOutput)
    }
}
