import Foundation
import VTTestSupport
import Testing
import Kernels
import Distribution
@testable import Training

@Suite struct ConsistencyTests {
    @Test func checksumsSeeEveryByte() throws {
        let a = FloatBuffer([1, 2, 3, 4]), b = FloatBuffer([1, 2, 3, 4])
        #expect(ParameterChecksum.of(a) == ParameterChecksum.of(b))
        b[2] = Float(bitPattern: b[2].bitPattern ^ 1)   // one bit of one float
        #expect(ParameterChecksum.of(a) != ParameterChecksum.of(b))
        #expect(try ParameterChecksum.verify(a, communicator: LocalCommunicator(), step: 0) == ParameterChecksum.of(a))
    }

    @Test func timelinesAreChromeTraceJSON() throws {
        let timeline = Timeline(rank: 1)
        timeline.span("backward", category: "compute", start: 0, end: 10, step: 3)
        timeline.span("allreduce bucket 0", category: "communication", start: 5, end: 9, thread: 1, step: 3)
        let directory = try temporaryDirectory("timeline")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("timeline.json")
        try timeline.write(to: url)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let events = try #require(object["traceEvents"] as? [[String: Any]])
        #expect(events.count == 3 && events[2]["tid"] as? Int == 1 && events[1]["dur"] as? Double == 10)
    }
}
