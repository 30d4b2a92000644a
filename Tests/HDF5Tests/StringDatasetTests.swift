// Variable-length UTF-8 string datasets (Kinetics `youtube_ids`) and block reads (the loader's temporal
// crops): round trips, shapes, type checks, and h5dump's view of a string dataset.

import Foundation
import HDF5
import Testing
import VTTestFiles

@Test func stringDatasetsRoundTrip() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("strings.h5")
    let ids = ["-IgP_58waM-", "idNo_CDBwb2", "", "Grüße, 视频 🎥", String(repeating: "x", count: 1000)]
    do {
        let file = try HDF5File.create(path)
        try file.root.createDataset("youtube_ids", strings: ids)
        try file.root.createDataset("grid", strings: ["a", "b", "c", "d", "e", "f"], shape: [2, 3])
        try file.root.createDataset("none", strings: [])
        try file.root.createDataset("numbers", shape: [2], values: [Int32(1), 2])
        #expect(throws: HDF5Error.self) { try file.root.createDataset("bad", strings: ["a", "b"], shape: [3]) }
        #expect(throws: HDF5Error.self) { try file.root.createDataset("youtube_ids", strings: ["again"]) }
    }
    let file = try HDF5File.open(path)
    let dataset = try file.root.dataset("youtube_ids")
    #expect(try dataset.readStrings() == ids)
    #expect(try dataset.shape() == [5])
    #expect(try dataset.holdsStrings())
    #expect(try file.root.dataset("grid").readStrings() == ["a", "b", "c", "d", "e", "f"])
    #expect(try file.root.dataset("grid").shape() == [2, 3])
    #expect(try file.root.dataset("none").readStrings() == [])
    let numbers = try file.root.dataset("numbers")
    #expect(try !numbers.holdsStrings())
    let error = try #require(throws: HDF5Error.self) { try numbers.readStrings() }
    #expect(error.kind == .typeMismatch && error.description.contains("/numbers") && error.description.contains(path))
    // Numeric reads of a string dataset fail with a clear type error, not garbage.
    #expect(throws: HDF5Error.self) { try dataset.read(as: UInt8.self) }
}

@Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/h5dump"), "h5dump is not installed"))
func h5dumpSeesUTF8Strings() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("ids.h5")
    do {
        let file = try HDF5File.create(path)
        try file.root.createDataset("youtube_ids", strings: ["-IgP_58waM-", "k_yE9fz1Wuv"])
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
    process.arguments = ["-d", "youtube_ids", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    for expected in ["H5T_VARIABLE", "H5T_CSET_UTF8", "\"-IgP_58waM-\"", "\"k_yE9fz1Wuv\""] {
        #expect(output.contains(expected), "h5dump output lacks \(expected):\n\(output)")
    }
}

@Test func blocksReadExactlyTheirElements() throws {
    // videos [N=3, T=4, H=2, W=2, C=3]; element value = (n·4 + t)·12 + rest, so every frame differs.
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("blocks.h5"))
    let frame = 12
    let values = (0..<3 * 4 * frame).map { UInt8($0 % 256) }
    let videos = try file.root.createDataset("videos", shape: [3, 4, 2, 2, 3], values: values, chunkShape: [1, 4, 2, 2, 3])
    var clip = [UInt8](repeating: 0, count: 2 * frame)
    try clip.withUnsafeMutableBytes { try videos.readBlock(start: [1, 2, 0, 0, 0], count: [1, 2, 2, 2, 3], into: $0) }
    #expect(clip == Array(values[(1 * 4 + 2) * frame..<(1 * 4 + 4) * frame]))
    // Outside the shape, or a buffer of the wrong size: errors naming the dataset.
    let outside = try #require(throws: HDF5Error.self) {
        try clip.withUnsafeMutableBytes { try videos.readBlock(start: [2, 3, 0, 0, 0], count: [1, 2, 2, 2, 3], into: $0) }
    }
    #expect(outside.kind == .shapeMismatch && outside.description.contains("/videos"))
    let small = try #require(throws: HDF5Error.self) {
        try clip.withUnsafeMutableBytes { try videos.readBlock(start: [0, 0, 0, 0, 0], count: [1, 1, 2, 2, 3], into: $0) }
    }
    #expect(small.kind == .shapeMismatch)
    // An empty block reads nothing.
    try clip.withUnsafeMutableBytes {
        try videos.readBlock(start: [0, 0, 0, 0, 0], count: [0, 2, 2, 2, 3], into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<0]))
    }
}
