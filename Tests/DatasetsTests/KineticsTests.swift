// Kinetics: the annotation CSV (quoting, CRLF, K400's is_cc, unknown columns rejected with file and line),
// class lists, and finding clips (flat or per label; ids starting with '-' or containing '_'). The ffmpeg
// pipeline: IntegrationTests/KineticsPipelineTests.swift.

import Datasets
import Foundation
import Testing
import VTTestFiles

@Suite struct KineticsAnnotationTests {
    @Test func parsesQuotedCRLFAndOptionalColumns() throws {
        let text = "\u{FEFF}label,youtube_id,time_start,time_end,split,is_cc\r\n"
            + "\"baking cookies\",-IgP_58waM-,14,24,train,0\r\n"
            + "\"say \"\"cheese\"\"\",idNo_CDBwb2,000014,24.0,train,1\r\n"
            + "\r\n"
            + "making pizza,k_yE9fz1Wuv,44,54,train,0"
        let table = try KineticsAnnotations(text: text, path: "k400.csv")
        #expect(table.columns == ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        #expect(table.clips.map(\.label) == ["baking cookies", "say \"cheese\"", "making pizza"])
        #expect(table.clips.map(\.line) == [2, 3, 5])
        #expect(table.clips[1].baseName == "idNo_CDBwb2_000014_000024")
        #expect(table.clips[0].baseName == "-IgP_58waM-_000014_000024" && table.clips[0].split == "train")
        #expect(table.labels == ["baking cookies", "making pizza", "say \"cheese\""])
        // Columns in another order, without split.
        let reordered = try KineticsAnnotations(text: "youtube_id,label,time_end,time_start\nabc,x,10,0\n", path: "r.csv")
        #expect(reordered.clips == [KineticsClip(line: 2, label: "x", youtubeID: "abc", timeStart: 0, timeEnd: 10, split: nil)])
    }

    @Test func rejectsWhatIsNotAnAnnotationFile() throws {
        func message(_ text: String) throws -> String {
            let error = try #require(throws: DatasetError.self) { try KineticsAnnotations(text: text, path: "bad.csv") }
            #expect(error.file == "bad.csv")
            return error.description
        }
        #expect(try message("label,youtube_id,time_start,time_end,split,views\nx,abc,1,2,train,5\n")
            == "bad.csv: line 1: unknown column 'views' in the header label,youtube_id,time_start,time_end,split,views; "
            + "a Kinetics annotation file has the columns label, youtube_id, time_start, time_end, split, is_cc")
        #expect(try message("label,youtube_id,time_start\n").contains("lacks the column 'time_end'"))
        #expect(try message("").contains("line 1: the file is empty"))
        #expect(try message("label,youtube_id,time_start,time_end\nx,abc,1\n").contains("line 2: 3 fields, but the header has 4 columns"))
        #expect(try message("label,youtube_id,time_start,time_end\nx,abc,1,2\nx,abc,one,2\n").contains("line 3: time_start 'one'"))
        #expect(try message("label,youtube_id,time_start,time_end\nx,a b,1,2\n").contains("line 2: youtube_id 'a b'"))
        #expect(try message("label,youtube_id,time_start,time_end\n\"x,abc,1,2\n").contains("not closed"))
        #expect(try message("label,youtube_id,time_start,time_end\nx,abc,5,2\n").contains("line 2: time_start 5 / time_end 2"))
        // Through the file API, the path is named.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("train.csv").path
        try writeBytes(Array("label,youtube_id,start,end\n".utf8), to: path)
        let error = try #require(throws: DatasetError.self) { try KineticsAnnotations(path: path) }
        #expect(error.description.hasPrefix("\(path): line 1: unknown column 'start'"))
    }

    @Test func classListsAndSelection() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("cooking.txt").path
        try writeBytes(Array("# cooking\nmaking pizza\n\nbaking cookies\n".utf8), to: file)
        #expect(try KineticsClasses.parse(file) == ["making pizza", "baking cookies"])
        #expect(try KineticsClasses.parse("baking cookies, making pizza") == ["baking cookies", "making pizza"])
        #expect(throws: DatasetError.self) { try KineticsClasses.parse("a,a") }
        let table = try KineticsAnnotations(text: "label,youtube_id,time_start,time_end,split\n"
                                            + "making pizza,aaa,1,11,val\nbaking cookies,bbb,2,12,val\nsurfing,ccc,3,13,val\n", path: "v.csv")
        let selection = try KineticsSelection(annotations: table, classes: ["making pizza", "baking cookies"])
        #expect(selection.clips.map(\.youtubeID) == ["aaa", "bbb"] && selection.split == "val")
        #expect(selection.clips.map { selection.labelIndex(of: $0) } == [0, 1])
        #expect(try KineticsSelection(annotations: table, classes: nil).labelNames == ["baking cookies", "making pizza", "surfing"])
        let typo = try #require(throws: DatasetError.self) { try KineticsSelection(annotations: table, classes: ["makin pizza"]) }
        #expect(typo.description.contains("'makin pizza' does not occur"))
    }

    @Test func findsClipsFlatOrPerLabel() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let clips = [KineticsClip(line: 2, label: "baking cookies", youtubeID: "-IgP_58waM-", timeStart: 14, timeEnd: 24),
                     KineticsClip(line: 3, label: "making pizza", youtubeID: "idNo_CDBwb2", timeStart: 7, timeEnd: 17),
                     KineticsClip(line: 4, label: "making pizza", youtubeID: "k_yE9fz1Wuv", timeStart: 1, timeEnd: 11)]
        let flat = directory.appendingPathComponent("flat")
        let byLabel = directory.appendingPathComponent("by-label")
        for folder in [flat, byLabel.appendingPathComponent("baking cookies"), byLabel.appendingPathComponent("making_pizza")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        try writeBytes([0], to: flat.appendingPathComponent("-IgP_58waM-_000014_000024.mp4").path)
        try writeBytes([0], to: flat.appendingPathComponent("idNo_CDBwb2_000007_000017.mkv").path)
        try writeBytes([0], to: byLabel.appendingPathComponent("baking cookies/-IgP_58waM-_000014_000024.mp4").path)
        try writeBytes([0], to: byLabel.appendingPathComponent("making_pizza/idNo_CDBwb2_000007_000017.mp4").path)
        let inFlat = try KineticsClipFinder(directory: flat.path)
        #expect(inFlat.path(of: clips[0]) == flat.appendingPathComponent("-IgP_58waM-_000014_000024.mp4").path)
        #expect(inFlat.path(of: clips[1])?.hasSuffix("idNo_CDBwb2_000007_000017.mkv") == true)
        #expect(inFlat.path(of: clips[2]) == nil)
        let inLabels = try KineticsClipFinder(directory: byLabel.path)
        #expect(inLabels.path(of: clips[0])?.hasSuffix("baking cookies/-IgP_58waM-_000014_000024.mp4") == true)
        #expect(inLabels.path(of: clips[1])?.hasSuffix("making_pizza/idNo_CDBwb2_000007_000017.mp4") == true)
        #expect(inLabels.searchDescription(of: clips[2]).contains("k_yE9fz1Wuv_000001_000011"))
    }
}
