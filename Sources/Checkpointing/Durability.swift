// Durability: the POSIX calls that make a file survive a crash or power loss — fsync a file, fsync a
// directory (so a rename in it is on disk), rename, and write a small text file atomically
// (temporary name, fsync, rename, directory fsync). Every failure names the call, the path and errno.
//
// Leaves out: Windows; filesystems that ignore fsync (nothing can be done there).

import Foundation
import _SystemShims
#if canImport(Glibc)
import Glibc
private let systemFsync = Glibc.fsync
private let systemRename = Glibc.rename
#elseif canImport(Darwin)
import Darwin
private let systemFsync = Darwin.fsync
private let systemRename = Darwin.rename
#endif

public enum Durability {
    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) + " (errno \(code))" }

    /// fsync(2) of a file or directory.
    public static func fsync(path: String, isDirectory: Bool = false) throws {
        let descriptor = open(path, isDirectory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard descriptor >= 0 else {
            throw CheckpointError(.saveFailed, file: path, "open for fsync failed: \(errorText())")
        }
        defer { close(descriptor) }
        var status: Int32
        repeat { status = systemFsync(descriptor) } while status != 0 && errno == EINTR
        guard status == 0 else {
            throw CheckpointError(.saveFailed, file: path, "fsync failed: \(errorText())")
        }
    }

    /// Throws unless the filesystem holding `path` has at least `bytes` available to this user (statvfs).
    static func requireSpace(_ bytes: Int, for path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        var status = statvfs()
        guard statvfs(directory.isEmpty ? "." : directory, &status) == 0 else { return }  // unknown: let the writes tell
        let available = Int(status.f_bavail) * Int(status.f_frsize)
        guard available >= bytes else {
            throw CheckpointError(.saveFailed, file: path, String(format: "not enough space: the checkpoint needs about %.1f MB, the disk has %.1f MB free (No space left on device)",
                                                                  Double(bytes) / 1e6, Double(available) / 1e6))
        }
    }

    /// Reserves disk blocks for the first `bytes` of the file at `path` without changing its size, so the
    /// writes that follow cannot run out of space (HDF5 cannot recover from a failed flush). Filesystems
    /// that cannot reserve are written unreserved.
    static func reserve(_ bytes: Int, for path: String) throws {
        let descriptor = open(path, O_WRONLY)
        guard descriptor >= 0 else { throw CheckpointError(.saveFailed, file: path, "open failed: \(errorText())") }
        defer { close(descriptor) }
        let status = vt_reserve_space(descriptor, Int64(bytes))
        guard status == 0 || status == EOPNOTSUPP || status == ENOSYS || status == EINVAL else {
            throw CheckpointError(.saveFailed, file: path, String(format: "cannot reserve %.1f MB: %@", Double(bytes) / 1e6, errorText(status)))
        }
    }

    /// Gives back reserved blocks past the end of the file (shrinking truncation frees them everywhere).
    static func releaseReservation(_ path: String) {
        let descriptor = open(path, O_WRONLY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return }
        if ftruncate(descriptor, status.st_size + 1) == 0 { _ = ftruncate(descriptor, status.st_size) }
    }

    /// rename(2): atomic replacement of `destination` within one filesystem.
    public static func rename(_ source: String, to destination: String) throws {
        guard systemRename(source, destination) == 0 else {
            throw CheckpointError(.saveFailed, file: destination, "rename from \(source) failed: \(errorText())")
        }
    }

    /// Writes `text` to `path` atomically: `temporary`, fsync, rename over `path`, fsync the directory.
    /// A crash leaves either the old file or the new one, never a mixture; `temporary` may remain.
    static func writeAtomically(_ text: String, to path: String, temporary: String) throws {
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError(.saveFailed, file: temporary, "create failed: \(errorText())")
        }
        var failure: String?
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count && failure == nil {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result > 0 { written += result } else if errno != EINTR { failure = "write failed: \(errorText())" }
        }
        if failure == nil && systemFsync(descriptor) != 0 { failure = "fsync failed: \(errorText())" }
        if close(descriptor) != 0 && failure == nil { failure = "close failed: \(errorText())" }
        if let failure {
            unlink(temporary)
            throw CheckpointError(.saveFailed, file: temporary, failure)
        }
        do {
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
        try fsync(path: (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
                  isDirectory: true)
    }
}
