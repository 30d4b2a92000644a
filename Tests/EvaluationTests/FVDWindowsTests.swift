// FVDWindows (docs/design.md §12): where the windows of long samples' two FVDs start, their defaults, and the
// one-line refusals (too short for I3D, longer than the frames, a stride under 1, generated frames with a gap).

import Testing
import Evaluation

struct FVDWindowsTests {
    func windows(_ frames: [Int], _ selection: String = "all", window: Int? = nil, stride: Int? = nil) throws -> FVDWindows {
        try FVDWindows(frames: frames, selection: selection, window: window, stride: stride, what: "each video of s.h5")
    }

    func message(_ body: () throws -> FVDWindows) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func windowsStartEveryStrideWhileTheyFit() throws {
        let long = try windows(Array(0..<48))
        #expect((long.length, long.stride, long.positions, long.starts) == (16, 16, [0, 16, 32], [0, 16, 32]))
        #expect(try windows(Array(0..<47)).starts == [0, 16])                         // [32, 48) does not fit
        #expect(try windows(Array(0..<32), stride: 8).starts == [0, 8, 16])
        #expect(try windows(Array(0..<40), window: 10, stride: 15).starts == [0, 15, 30])  // gaps between windows
        #expect(try windows(Array(0..<12)).length == 12)                               // fewer than 16 frames: all of them
        let one = try windows(Array(0..<16))
        #expect(one.positions == [0] && one.firstSummary == "first 16-frame window, frames 0…15")
    }

    @Test func generatedFramesAreWindowedFromTheFirstGeneratedOne() throws {
        let generated = try windows(Array(1..<48), "generated")  // prime_frames [0]
        #expect(generated.positions == [0, 16] && generated.starts == [1, 17])
        #expect(generated.firstSummary == "first 16-frame window, frames 1…16")
        #expect(generated.unrolledSummary == "2 windows of 16 frames at frames 1, 17")
        #expect(generated.protocolText(videos: 4).contains("frames 1…16, frames 17…32") && generated.protocolText(videos: 4).contains("4 videos × 2 windows"))
    }

    @Test func badWindowsAreOneLine() {
        #expect(message { try windows(Array(0..<32), window: 8) }.contains("FVD needs at least 9 frames"))
        #expect(message { try windows(Array(0..<32), window: 8) }.contains("--fvd-window 8"))
        #expect(message { try windows(Array(0..<32), window: 33) } == "--fvd-window 33 is longer than the 32 frames of each video of s.h5 (--fvd-frames all)")
        #expect(message { try windows(Array(0..<32), stride: 0) }.contains("--fvd-window-stride must be at least 1"))
        let gap = message { try windows([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12], "generated", window: 9) }  // prime_frames [0, 10]
        #expect(gap.contains("--fvd-frames generated leaves frames that are not consecutive") && gap.contains("--fvd-frames all"), "\(gap)")
        #expect(message { try windows(Array(0..<8)) }.contains("has 8"))  // 8 frames: too few for any window
    }
}
