// Outside the wrapper: files written here are readable by h5dump (skipped when hdf5-tools is missing),
// and two threads can use the module at once (the global lock).

import Dispatch
import Foundation
import HDF5
import Testing
import VTTestFiles

private let h5dump: String? = ["/usr/bin/h5dump", "/usr/local/bin/h5dump", "/opt/homebrew/bin/h5dump"]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Test(.enabled(if: h5dump != nil, "h5dump (apt package hdf5-tools) is not installed"))
func h5dumpReadsWrittenFiles() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("shard.h5")
    do {
        let file = try HDF5File.create(path)
        try file.root.setAttribute("format", "video-shard")
        try file.root.setAttribute("format_version", Int64(1))
        let videos = try file.root.createDataset("videos", elementType: .uint8, shape: [0, 2, 4, 4, 3], growable: true)
        try videos.appendRows([UInt8](repeating: 9, count: 3 * 96))
        let labels = try file.root.createDataset("labels", shape: [3], values: [Int32(4), 5, 6])
        try labels.setAttribute("label_names", ["a", "b"])
    }
    let (status, output) = try run(h5dump!, ["-H", "-A", path])
    #expect(status == 0, "\(output)")
    for expected in ["DATASET \"videos\"", "H5T_STD_U8LE", "( 3, 2, 4, 4, 3 ) / ( H5S_UNLIMITED, 2, 4, 4, 3 )",
                     "STRSIZE H5T_VARIABLE", "CSET H5T_CSET_UTF8", "\"video-shard\"", "DATASET \"labels\""] {
        #expect(output.contains(expected), "'\(expected)' missing from h5dump output:\n\(output)")
    }
    let labels = try run(h5dump!, ["-d", "/labels", path])
    #expect(labels.status == 0 && labels.output.contains("4, 5, 6"), "\(labels.output)")
}

@Test func threadsShareTheModule() throws {
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("threads.h5"))
    let rows = 16, rowSize = 1000
    let videos = try file.root.createDataset("videos", shape: [rows, rowSize],
                                             values: (0..<rows * rowSize).map { UInt8($0 / rowSize) })
    let failures = ManagedCounter()
    DispatchQueue.concurrentPerform(iterations: 8) { worker in
        for round in 0..<20 {
            let row = (worker * 7 + round) % rows
            do {
                if try videos.readRows(row..<row + 1, as: UInt8.self) != [UInt8](repeating: UInt8(row), count: rowSize) {
                    failures.increment()
                }
                try file.root.setAttribute("worker_\(worker)", Int64(round))
            } catch {
                failures.increment()
            }
        }
    }
    #expect(failures.value == 0)
    #expect(try file.root.attributeNames().count == 8)
}

private final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
