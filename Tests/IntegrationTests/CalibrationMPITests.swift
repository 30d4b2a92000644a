// `vt mesh simulate --calibrate` under mpirun: every local layout, the model axis included, is trained and
// compared with its prediction.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt, .mpirun), .serialized)
struct ModelAxisCalibrationTests {
    init() throws { try requireTools(.vt, .mpirun) }

    /// `vt mesh simulate --calibrate` on 2 ranks trains both local layouts, data=2,model=1 and
    /// data=1,model=2, and reports each against its prediction (times are not asserted: shared machine).
    @Test func calibrationMeasuresTheModelAxisLayoutToo() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try smallDistributedConfig.write(to: directory.appendingPathComponent("small.yaml"), atomically: true, encoding: .utf8)
        let result = try runVTRanks(2, ["mesh", "simulate", "--calibrate", "--config", "small.yaml", "--steps", "1", "--json"],
                                    directory: directory)
        #expect(result.status == 0, "\(result.output.suffix(1500))")
        let start = try #require(result.output.firstIndex(of: "{"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output[start...].utf8)) as? [String: Any])
        let comparisons = try #require((report["calibration"] as? [String: Any])?["comparisons"] as? [[String: Any]])
        #expect(comparisons.map { "\($0["data"]!),\($0["model"]!)" } == ["2,1", "1,2"])
        for row in comparisons {
            let measured = try #require(row["measured"] as? [String: Any], "\(row)")
            #expect((measured["step_seconds"] as? Double ?? 0) > 0)
            let ratio = try #require(row["predicted_over_measured_memory"] as? Double)
            #expect(ratio > 0.5 && ratio < 2, "memory estimate / peak RSS = \(ratio)")
        }
        let modelAxis = try #require(comparisons.last?["measured"] as? [String: Any])
        #expect((modelAxis["communication_seconds"] as? Double ?? 0) > 0, "activation all-reduces are timed")
    }
}
