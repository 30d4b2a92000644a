// Shards the video_shard fuzz harness (Tests/Fuzz) crashed on: HDF5 files laid out as shards whose `videos`
// claim a shape no shard has — chunked and never written, so a few kilobytes on disk. Reading a video
// allocated T×H×W×3 bytes (2^60 here: a crash) or a column N values (2^40: a crash). Opening them must
// throw, naming the file and the shape (fixtures in Fixtures/fuzz/, written by Tests/Fuzz/make-seeds.sh).

import Foundation
import Testing
@testable import Datasets

@Suite struct FuzzRegressionTests {
    /// `videos` [1, 2^20, 2^20, 2^20, 3]: 3·2^60 bytes per video.
    @Test func videoOverTheSizeLimitIsRefused() throws {
        let path = TestPaths.fixture("fuzz/huge-video.h5")
        let error = try #require(throws: DatasetError.self) { try VideoShard(path: path) }
        #expect(error.file == path && "\(error)".contains("over the limit of 1 GiB per video"), "\(error)")
    }

    /// `videos` [2^40, 1, 2, 2, 3] with `labels` [2^40]: more videos than the file has bytes.
    @Test func moreVideosThanBytesIsRefused() throws {
        let path = TestPaths.fixture("fuzz/huge-count.h5")
        let error = try #require(throws: DatasetError.self) { try VideoShard(path: path) }
        #expect(error.file == path && "\(error)".contains("1099511627776 videos cannot be stored in a file of 6144 bytes"), "\(error)")
    }
}
