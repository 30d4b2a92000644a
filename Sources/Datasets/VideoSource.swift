// VideoSource: what training and evaluation read — a fixed, indexable set of UInt8 [T, H, W, 3] videos.
// InMemoryVideoSource holds the built-in synthetic corpus (or any decoded set) in one contiguous array.

public protocol VideoSource: AnyObject, Sendable {
    var count: Int { get }
    var frames: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Copies frames start..<start+length of video `index` into `buffer` (UInt8 [length, H, W, 3]).
    func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws
}

extension VideoSource {
    public var bytesPerFrame: Int { height * width * 3 }
}

public final class InMemoryVideoSource: VideoSource, @unchecked Sendable {
    public let count: Int, frames: Int, height: Int, width: Int
    private let storage: [UInt8]

    public init(count: Int, frames: Int, height: Int, width: Int, storage: [UInt8]) {
        precondition(storage.count == count * frames * height * width * 3, "InMemoryVideoSource: storage size")
        self.count = count; self.frames = frames; self.height = height; self.width = width; self.storage = storage
    }

    /// The built-in corpus: `count` robot-pushing-like videos from `SyntheticVideoGenerator` (seeded).
    public static func synthetic(count: Int, frames: Int, height: Int, width: Int, seed: UInt64) -> InMemoryVideoSource {
        let generator = SyntheticVideoGenerator(frames: frames, height: height, width: width, seed: seed)
        let size = generator.bytesPerVideo
        var storage = [UInt8](repeating: 0, count: count * size)
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueueConcurrent.perform(count) { index in generator.video(index: index, into: base + index * size) }
        }
        return InMemoryVideoSource(count: count, frames: frames, height: height, width: width, storage: storage)
    }

    public func read(index: Int, startFrame: Int, frameCount: Int, into buffer: UnsafeMutablePointer<UInt8>) throws {
        guard (0..<count).contains(index), startFrame >= 0, startFrame + frameCount <= frames else {
            throw DatasetError(.invalidRequest("video \(index) frames \(startFrame)..<\(startFrame + frameCount) is outside \(count) videos × \(frames) frames"))
        }
        let frameBytes = bytesPerFrame
        storage.withUnsafeBufferPointer {
            buffer.update(from: $0.baseAddress! + (index * frames + startFrame) * frameBytes, count: frameCount * frameBytes)
        }
    }
}

import Foundation

enum DispatchQueueConcurrent {
    static func perform(_ iterations: Int, _ body: (Int) -> Void) {
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
    }
}
