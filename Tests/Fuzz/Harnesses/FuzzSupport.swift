// FuzzSupport: what every harness shares. libFuzzer hands a harness bytes; vt's readers take paths, so
// the bytes become a file in this process's own temporary folder (under $TMPDIR, which run.sh points at
// a folder it deletes afterwards) and the harness opens that file exactly as vt would.
//
// A harness passes when the reader returns or throws a Swift error; a trap, a sanitizer report, a hang
// (libFuzzer's -timeout) or running out of memory (-rss_limit_mb) is a finding.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum FuzzInput {
    /// `$TMPDIR/vt-fuzz-<pid>`, created on first use.
    static let folder: String = {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let path = base + "/vt-fuzz-\(getpid())"
        _ = mkdir(path, 0o700)
        return path
    }()

    /// Writes the fuzzer's bytes to `folder/name`, replacing any earlier input, and returns the path.
    static func file(_ data: UnsafePointer<UInt8>?, _ size: Int, name: String) -> String {
        let path = folder + "/" + name
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "fuzz harness: cannot create \(path): \(String(cString: strerror(errno)))")
        var done = 0
        while done < size, let data {
            let written = write(descriptor, data + done, size - done)
            precondition(written > 0, "fuzz harness: cannot write \(path): \(String(cString: strerror(errno)))")
            done += written
        }
        close(descriptor)
        return path
    }

    /// The fuzzer's bytes as an array.
    static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Runs `body`; a thrown error is an accepted outcome (its message is rendered, as vt prints it).
    static func tolerate(_ body: () throws -> Void) {
        do { try body() } catch { _ = String(describing: error) }
    }
}
