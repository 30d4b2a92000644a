// VTTestFiles: the one temporary-directory helper and the repository's own files, for every test target.
// Foundation only, so the targets that test the lower modules (HDF5, Datasets, Checkpointing, ...) can use it
// without depending on Training as VTTestSupport does; VTTestSupport re-exports it.

import Foundation

/// A new, empty directory under the system temporary directory (`vt-test-<prefix>-<UUID>`). The caller
/// removes it (`defer { try? FileManager.default.removeItem(at: directory) }`), or uses `ScratchDirectory`.
public func temporaryDirectory(_ prefix: String = "") throws -> URL {
    let name = "vt-test-" + (prefix.isEmpty ? "" : prefix + "-") + UUID().uuidString
    let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A `temporaryDirectory()` removed with its contents when this object goes away.
public final class ScratchDirectory {
    public let url: URL

    public init(_ prefix: String = "") throws { url = try temporaryDirectory(prefix) }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside the directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The repository's root folder, found from this source file (tests read the repository's files in place).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()   // Tests/Files
    .deletingLastPathComponent().deletingLastPathComponent()

/// A file of the repository by its path from the root, e.g. `repositoryFile("Configs/tiny.yaml")`.
public func repositoryFile(_ path: String) -> URL { repositoryRoot.appendingPathComponent(path) }
