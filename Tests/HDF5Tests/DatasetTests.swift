// Datasets: round trips for every element type, raw buffers, rows of the first axis (hyperslabs),
// chunked growable datasets that are appended to, scalars.

import HDF5
import Testing
import VTTestFiles

/// Values 0, 1, 2, ... (mod 251) converted to `T`, so every element differs from its neighbours.
private func ramp<T: HDF5Scalar & Numeric>(_ count: Int, _ make: (Int) -> T) -> [T] {
    (0..<count).map { make($0 % 251) }
}

private func roundTrip<T: HDF5Scalar & Numeric & Equatable>(_ values: [T], in scratch: ScratchDirectory) throws {
    let path = scratch.path("\(T.self).h5")
    let shape = [2, 3, values.count / 6]
    let file = try HDF5File.create(path)
    try file.root.createDataset("data/\(T.self)", shape: shape, values: values)
    try file.close()

    let reopened = try HDF5File.open(path)
    let dataset = try reopened.root.dataset("data/\(T.self)")
    #expect(try dataset.shape() == shape)
    #expect(try dataset.elementType() == T.hdf5ElementType)
    #expect(try dataset.read(as: T.self) == values)
}

@Test func roundTripEveryElementType() throws {
    let scratch = try ScratchDirectory()
    try roundTrip(ramp(24) { UInt8($0) }, in: scratch)
    try roundTrip(ramp(24) { Int32($0) - 100 } + [Int32.min, Int32.max, 0, 1, -1, 7], in: scratch)
    try roundTrip(ramp(24) { Int64($0) << 40 } + [Int64.min, Int64.max, 0, 1, -1, 7], in: scratch)
    try roundTrip(ramp(24) { Float($0) * 0.25 - 3 } + [.infinity, -.infinity, .ulpOfOne, 0, -0.5, 1e30], in: scratch)
    try roundTrip(ramp(24) { Double($0) / 3 } + [.pi, -.greatestFiniteMagnitude, 1e-300, 0, 2, 3], in: scratch)
}

@Test func rawBuffersRoundTrip() throws {
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("raw.h5"))
    let dataset = try file.root.createDataset("raw", elementType: .int32, shape: [3, 4])
    let values: [Int32] = Array(0..<12).map { Int32($0 * 1000) }
    try values.withUnsafeBytes { try dataset.write($0) }
    var back = [Int32](repeating: 0, count: 12)
    try back.withUnsafeMutableBytes { try dataset.read(into: $0) }
    #expect(back == values)
}

@Test func rowsOfTheFirstAxisAreHyperslabs() throws {
    // videos [N=5, T=2, H=3, W=3, C=3]: element (n, rest) = n * 54 + rest, mod 256.
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("videos.h5"))
    let videoSize = 2 * 3 * 3 * 3
    let values = (0..<5 * videoSize).map { UInt8($0 % 256) }
    let videos = try file.root.createDataset("videos", shape: [5, 2, 3, 3, 3], values: values, chunkShape: [1, 2, 3, 3, 3])

    #expect(try videos.readRows(2..<4, as: UInt8.self) == Array(values[2 * videoSize..<4 * videoSize]))
    #expect(try videos.readRows(4..<4, as: UInt8.self) == [])

    // Into a caller's typed buffer, and into raw bytes.
    var video = [UInt8](repeating: 0, count: videoSize)
    try video.withUnsafeMutableBufferPointer { try videos.readRows(1..<2, into: $0) }
    #expect(video == Array(values[videoSize..<2 * videoSize]))
    try video.withUnsafeMutableBytes { try videos.readRows(4..<5, into: $0) }
    #expect(video == Array(values[4 * videoSize..<5 * videoSize]))

    // Overwrite video 3 only; the others keep their values.
    try videos.writeRows(startingAt: 3, [UInt8](repeating: 255, count: videoSize))
    var expected = values
    expected.replaceSubrange(3 * videoSize..<4 * videoSize, with: repeatElement(255, count: videoSize))
    #expect(try videos.read(as: UInt8.self) == expected)
    let zeros = [UInt8](repeating: 0, count: videoSize)
    try zeros.withUnsafeBytes { try videos.writeRows(startingAt: 0, from: $0) }
    #expect(try videos.readRows(0..<1, as: UInt8.self) == zeros)
}

@Test func chunkedGrowableDatasetsAppendRows() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("append.h5")
    do {
        let file = try HDF5File.create(path)
        let actions = try file.root.createDataset("actions", elementType: .float32, shape: [0, 2, 3], growable: true)
        #expect(try actions.shape() == [0, 2, 3])
        #expect(try actions.appendRows((0..<6).map(Float.init)) == 0..<1)
        #expect(try actions.appendRows((6..<24).map(Float.init)) == 1..<4)
        let labels = try file.root.createDataset("labels", elementType: .int32, shape: [0], chunkShape: [16], growable: true)
        for label in Int32(0)..<40 { try labels.appendRows([label]) }
        try file.flush()
    }
    let file = try HDF5File.open(path, mode: .readWrite)
    let actions = try file.root.dataset("actions")
    #expect(try actions.shape() == [4, 2, 3])
    #expect(try actions.read(as: Float.self) == (0..<24).map(Float.init))
    #expect(try file.root.dataset("labels").read(as: Int32.self) == Array(0..<40))

    // Extending leaves the new rows at the fill value, zero.
    try actions.extend(toRows: 6)
    #expect(try actions.shape() == [6, 2, 3])
    #expect(try actions.readRows(4..<6, as: Float.self) == [Float](repeating: 0, count: 12))
}

@Test func scalarDatasets() throws {
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("scalar.h5"))
    let loss = try file.root.createDataset("loss", shape: [], values: [2.5])
    #expect(try loss.shape() == [])
    #expect(try loss.read(as: Double.self) == [2.5])
}
