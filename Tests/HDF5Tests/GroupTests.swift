// Files and groups: create/close/reopen, exclusive create, nested groups, existence, listing, the
// recursive dataset walk.

import HDF5
import Testing
import VTTestFiles

@Test func nestedGroupsListAndWalk() throws {
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("groups.h5"))
    let root = file.root
    let deep = try root.createGroup("params/encoder/block_0")
    #expect(deep.path == "/params/encoder/block_0")
    try deep.createDataset("query", shape: [2], values: [Float(1), 2])
    try root.createDataset("optimizer/m/params/encoder/block_0/query", shape: [2], values: [Float(0), 0])
    try root.group("params").createDataset("embedding", shape: [1], values: [Float(3)])
    try root.createDataset("/step", shape: [], values: [Int64(7)])

    #expect(try root.contains("params/encoder"))
    #expect(try root.contains("/params/encoder/block_0/query"))
    #expect(try !root.contains("params/decoder"))
    #expect(try !root.contains("step/inside_a_dataset"))
    #expect(try root.kind(of: "params") == .group)
    #expect(try root.kind(of: "step") == .dataset)
    #expect(try root.kind(of: "nothing") == nil)

    #expect(try root.children() == ["optimizer", "params", "step"])
    #expect(try root.group("params").children() == ["embedding", "encoder"])
    #expect(try root.datasetPaths() == [
        "/optimizer/m/params/encoder/block_0/query", "/params/embedding", "/params/encoder/block_0/query", "/step",
    ])
    #expect(try root.group("params/encoder").datasetPaths() == ["/params/encoder/block_0/query"])
    #expect(try root.group("params").group("encoder/block_0").dataset("query").read(as: Float.self) == [1, 2])
}

@Test func fileLifecycle() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("life.h5")
    let file = try HDF5File.create(path)
    try file.root.createGroup("a")
    try file.flush()
    try file.close()
    try file.close()  // harmless
    #expect(!file.isOpen)
    let closed = #expect(throws: HDF5Error.self) { try file.root.children() }
    #expect(closed?.kind == .closed)

    // Exclusive create refuses an existing file and leaves it intact.
    let exists = #expect(throws: HDF5Error.self) { try HDF5File.create(path, exclusive: true) }
    #expect(exists?.kind == .alreadyExists)
    let writable = try HDF5File.open(path, mode: .readWrite)
    #expect(try writable.root.children() == ["a"])
    try writable.root.createGroup("b")
    try writable.close()
    #expect(try HDF5File.open(path).root.children() == ["a", "b"])

    // Truncating create empties it.
    #expect(try HDF5File.create(path).root.children() == [])
    _ = try HDF5File.create(scratch.path("new.h5"), exclusive: true)
}
