// Failures: each throws an HDF5Error of the right kind whose description names the file and the object.

import Foundation
import HDF5
import Testing
import VTTestFiles

/// Runs `body`, expects an HDF5Error of `kind`, and checks its description mentions every part.
private func expectError(_ kind: HDF5Error.Kind, mentioning parts: [String],
                         sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    let error = #expect(throws: HDF5Error.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    for part in parts {
        #expect(error.description.contains(part), "'\(part)' missing from: \(error)", sourceLocation: sourceLocation)
    }
}

@Test func openingAMissingOrForeignFileFails() throws {
    let scratch = try ScratchDirectory()
    let missing = scratch.path("missing.h5")
    expectError(.notFound, mentioning: [missing, "no such file"]) { _ = try HDF5File.open(missing) }

    let text = scratch.path("notes.txt")
    try "not an HDF5 file\n".write(toFile: text, atomically: true, encoding: .utf8)
    expectError(.notHDF5File, mentioning: [text, "not an HDF5 file"]) { _ = try HDF5File.open(text) }
    let existing = scratch.path("a.h5")
    _ = try HDF5File.create(existing)
    expectError(.alreadyExists, mentioning: [existing]) { _ = try HDF5File.create(existing, exclusive: true) }
}

@Test func missingObjectsAndAttributesFail() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("objects.h5")
    let file = try HDF5File.create(path)
    let videos = try file.root.createDataset("videos", shape: [2, 3], values: [UInt8](repeating: 1, count: 6))
    try file.root.createGroup("params")

    expectError(.notFound, mentioning: [path, "/missing"]) { _ = try file.root.dataset("missing") }
    expectError(.notFound, mentioning: [path, "/params/missing"]) { _ = try file.root.group("params").dataset("missing") }
    expectError(.typeMismatch, mentioning: [path, "/params", "not a dataset"]) { _ = try file.root.dataset("params") }
    expectError(.alreadyExists, mentioning: [path, "/videos"]) { try file.root.createGroup("videos") }
    expectError(.notFound, mentioning: [path, "/videos", "label_names"]) {
        let _: [String] = try videos.attribute("label_names")
    }
    try videos.setAttribute("source", "bair")
    expectError(.typeMismatch, mentioning: [path, "/videos", "source", "Int64"]) {
        let _: Int64 = try videos.attribute("source")
    }
}

@Test func wrongShapesAndTypesFailBeforeCallingC() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("shapes.h5")
    let file = try HDF5File.create(path)
    let videos = try file.root.createDataset("videos", elementType: .uint8, shape: [4, 2, 2])

    expectError(.shapeMismatch, mentioning: [path, "/videos", "[4, 2, 2]", "16 uint8"]) {
        try videos.write([UInt8](repeating: 0, count: 15))
    }
    expectError(.typeMismatch, mentioning: [path, "/videos", "uint8", "float32"]) {
        _ = try videos.read(as: Float.self)
    }
    expectError(.typeMismatch, mentioning: [path, "/videos", "uint8", "int64"]) {
        try videos.write([Int64](repeating: 0, count: 16))
    }
    let growable = try file.root.createDataset("frames", elementType: .uint8, shape: [0, 2], growable: true)
    expectError(.typeMismatch, mentioning: [path, "/frames", "uint8", "float32"]) { try growable.appendRows([Float(1), 2]) }
    expectError(.shapeMismatch, mentioning: [path, "/frames", "not whole rows"]) { try growable.appendRows([UInt8(1)]) }
    #expect(try growable.shape() == [0, 2])  // nothing was appended
    expectError(.shapeMismatch, mentioning: [path, "/videos", "3..<5"]) { _ = try videos.readRows(3..<5, as: UInt8.self) }
    expectError(.shapeMismatch, mentioning: [path, "/videos", "create it growable"]) { try videos.extend(toRows: 5) }
    expectError(.shapeMismatch, mentioning: [path, "/actions"]) {
        try file.root.createDataset("actions", shape: [2, 2], values: [Float](repeating: 0, count: 3))
    }
    expectError(.shapeMismatch, mentioning: [path, "/labels", "chunk shape"]) {
        try file.root.createDataset("labels", elementType: .int32, shape: [4], chunkShape: [2, 2])
    }
    #expect(try !file.root.contains("actions"))
}

@Test func libraryFailuresCarryTheLibrarysReason() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("readonly.h5")
    do {
        let file = try HDF5File.create(path)
        try file.root.createDataset("labels", shape: [2], values: [Int32(1), 2])
    }
    let file = try HDF5File.open(path)  // read-only
    expectError(.libraryCall, mentioning: [path, "/labels", "H5Dwrite", "no write intent"]) {
        try file.root.dataset("labels").write([Int32(3), 4])
    }
    #expect(try file.root.dataset("labels").read(as: Int32.self) == [1, 2])
}
