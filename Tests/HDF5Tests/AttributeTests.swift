// Attributes of each kind on the root, groups and datasets; listing; overwriting.

import HDF5
import Testing
import VTTestFiles

@Test func attributesOfEveryKindRoundTrip() throws {
    let scratch = try ScratchDirectory()
    let path = scratch.path("attributes.h5")
    do {
        let file = try HDF5File.create(path)
        let group = try file.root.createGroup("params")
        let dataset = try file.root.createDataset("labels", shape: [2], values: [Int32(0), 1])
        for object in [file.root, group] as [any HDF5Object] + [dataset] {
            try object.setAttribute("format", "video-shard")
            try object.setAttribute("unicode", "Grüße, 视频 🎥")
            try object.setAttribute("format_version", Int64(3))
            try object.setAttribute("step", 300_000)
            try object.setAttribute("learning_rate", 2e-4)
            try object.setAttribute("mesh", [Int64(2), 4])
            try object.setAttribute("betas", [0.9, 0.999])
            try object.setAttribute("label_names", ["cooking egg", "making tea", ""])
            try object.setAttribute("no_strings", [String]())
            try object.setAttribute("no_numbers", [Double]())
        }
    }
    let file = try HDF5File.open(path)
    for object in [file.root, try file.root.group("params")] as [any HDF5Object] + [try file.root.dataset("labels")] {
        #expect(try object.attributeNames() == ["betas", "format", "format_version", "label_names", "learning_rate",
                                                "mesh", "no_numbers", "no_strings", "step", "unicode"])
        #expect(try object.attribute("format") == "video-shard")
        #expect(try object.attribute("unicode") == "Grüße, 视频 🎥")
        #expect(try object.attribute("format_version") == Int64(3))
        #expect(try object.attribute("step") == 300_000)
        #expect(try object.attribute("learning_rate") == 2e-4)
        #expect(try object.attribute("mesh") == [Int64(2), 4])
        #expect(try object.attribute("betas") == [0.9, 0.999])
        #expect(try object.attribute("label_names") == ["cooking egg", "making tea", ""])
        #expect(try object.attribute("no_strings", as: [String].self) == [])
        #expect(try object.attribute("no_numbers", as: [Double].self) == [])
        #expect(try object.attribute("mesh", as: HDF5AttributeValue.self) == .int64s([2, 4]))
        #expect(try object.attribute("format", as: HDF5AttributeValue.self) == .string("video-shard"))
        #expect(try object.hasAttribute("step"))
        #expect(try !object.hasAttribute("missing"))
        // A one-element array reads as a single value, and a single value as a one-element array.
        #expect(try object.attribute("step", as: [Int].self) == [300_000])
    }
}

@Test func writingAnAttributeAgainReplacesIt() throws {
    let scratch = try ScratchDirectory()
    let file = try HDF5File.create(scratch.path("overwrite.h5"))
    let root = file.root
    try root.setAttribute("step", 1)
    try root.setAttribute("step", 2)
    #expect(try root.attribute("step") == 2)
    try root.setAttribute("step", "two")  // another type entirely
    #expect(try root.attribute("step") == "two")
    try root.setAttribute("names", ["a", "b", "c"])
    try root.setAttribute("names", ["d"])
    #expect(try root.attribute("names") == ["d"])
    #expect(try root.attributeNames() == ["names", "step"])
}

@Test func attributesLargerThan64KilobytesFit() throws {
    // The HDF5 1.8 file format keeps large attributes in dense storage; the original format cannot.
    let scratch = try ScratchDirectory()
    let path = scratch.path("large.h5")
    let cursor = (0..<20_000).map { Int64($0 * 3) }  // 160 kB
    let ids = (0..<5_000).map { "video_\($0)" }       // 5,000 heap references, 80 kB
    do {
        let file = try HDF5File.create(path)
        try file.root.setAttribute("data_cursor", cursor)
        try file.root.setAttribute("youtube_ids", ids)
    }
    let file = try HDF5File.open(path)
    #expect(try file.root.attribute("data_cursor") == cursor)
    #expect(try file.root.attribute("youtube_ids") == ids)
}
