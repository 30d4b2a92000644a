// `vt mesh simulate` on the real binary: a layout that does not match the mesh is one clear error, and the
// JSON has one prediction per layout with every α. The simulator's arithmetic: MeshSimulationTests.

import Foundation
import VTTestSupport
import Testing

@Suite(.needs(.vt))
struct MeshCommandLineTests {
    init() throws { try requireTools(.vt) }

    @Test func aLayoutThatDoesNotMatchTheMeshIsAClearError() throws {
        let config = repositoryFile("Configs/bench.yaml").path
        let result = try runVT(["mesh", "simulate", "--config", config, "--mesh", "4x8", "--layout", "data=4,model=2"])
        #expect(result.status != 0)
        #expect(result.output.contains("error: --layout data=4,model=2 has 4 × 2 = 8 chips but --mesh 4x8 has 4 × 8 = 32"), "\(result.output)")
        #expect(!result.output.contains("Fatal error"), "\(result.output)")
    }

    @Test func jsonHasOnePredictionPerLayoutAndAlpha() throws {
        let config = repositoryFile("Configs/bench.yaml").path
        let result = try runVT(["mesh", "simulate", "--config", config, "--mesh", "2x2", "--batch", "8", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        #expect(predictions.count == 3)   // data=4,model=1; data=2,model=2; data=1,model=4
        #expect(predictions.allSatisfy { ($0["alphas"] as? [Any])?.count == 4 })
        let figures = try #require(object["figures"] as? [[String: Any]])
        #expect(figures.contains { $0["provenance"] as? String == "published" })
        #expect(figures.contains { $0["provenance"] as? String == "assumed" && ($0["name"] as? String)?.hasPrefix("α") == true })
    }
}
