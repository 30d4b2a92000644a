// BAIRRecord: one BAIR robot-pushing ("softmotion30_44k") record → one video with its actions and
// end-effector positions.
//
// Each TFRecord of `softmotion30_44k/{train,test}/traj_A_to_B.tfrecords` is one tf.train.Example with,
// for every frame t (written plainly, 0..29):
//     "{t}/image_aux1/encoded"  bytes_list, one value: 64×64×3 = 12,288 raw RGB bytes (HWC; NOT PNG)
//     "{t}/image_main/encoded"  the same for the other camera (may be absent)
//     "{t}/action"              float_list, 4 values
//     "{t}/endeffector_pos"     float_list, 3 values
// Decoding frames 0..<T gives pixels UInt8 [T,64,64,3], actions Float [T,4], end-effector positions
// Float [T,3]. Every problem (missing key, wrong list kind, wrong byte or value count) is a DatasetError
// naming the file, the record index and offset, and the key.
//
// Not here: choosing clips or writing shards (the prepare step), PNG/JPEG decoding (BAIR is raw).

/// Which BAIR camera to read.
public enum BAIRCamera: String, Sendable, CaseIterable {
    /// `{t}/image_aux1/encoded`, the camera video models use.
    case aux1 = "image_aux1"
    /// `{t}/image_main/encoded`, the other view.
    case main = "image_main"
}

/// One decoded BAIR video.
public struct BAIRVideo: Equatable, Sendable {
    public static let height = 64
    public static let width = 64
    public static let channels = 3
    /// Raw RGB bytes per frame: 64 × 64 × 3 = 12,288.
    public static let bytesPerFrame = height * width * channels
    /// Floats per action.
    public static let actionSize = 4
    /// Floats per end-effector position.
    public static let endEffectorSize = 3
    /// Frames in every record of the real corpus.
    public static let framesPerRecord = 30

    /// Number of frames T.
    public var frameCount: Int
    /// UInt8 [T, 64, 64, 3], row-major.
    public var pixels: [UInt8]
    /// Float [T, 4].
    public var actions: [Float]
    /// Float [T, 3].
    public var endEffectorPositions: [Float]

    public init(frameCount: Int, pixels: [UInt8], actions: [Float], endEffectorPositions: [Float]) {
        precondition(pixels.count == frameCount * Self.bytesPerFrame
                     && actions.count == frameCount * Self.actionSize
                     && endEffectorPositions.count == frameCount * Self.endEffectorSize,
                     "BAIRVideo: array sizes do not match \(frameCount) frames")
        self.frameCount = frameCount
        self.pixels = pixels
        self.actions = actions
        self.endEffectorPositions = endEffectorPositions
    }

    public static func imageKey(frame: Int, camera: BAIRCamera) -> String { "\(frame)/\(camera.rawValue)/encoded" }
    public static func actionKey(frame: Int) -> String { "\(frame)/action" }
    public static func endEffectorKey(frame: Int) -> String { "\(frame)/endeffector_pos" }

    /// Frames 0..<`frames` of `example`. Errors carry the key; add the file context with
    /// `DatasetError.adding(file:recordIndex:offset:)` (or use `init(record:file:…)`).
    public init(example: TFExample, frames: Int = BAIRVideo.framesPerRecord, camera: BAIRCamera = .aux1) throws {
        self = try Self.decode(example, frames: frames, camera: camera)
    }

    /// Decodes one TFRecord of a BAIR file; errors name `file`, the record's index and offset, and the key.
    /// Images are copied straight from the record into `pixels` (no per-frame arrays).
    public init(record: TFRecord, file: String, frames: Int = BAIRVideo.framesPerRecord,
                camera: BAIRCamera = .aux1) throws {
        do {
            self = try record.data.withUnsafeBytes { data in
                let source = LocatedExample(features: try TFExample.decodeLocated(data), data: data)
                return try Self.decode(source, frames: frames, camera: camera)
            }
        } catch let error as DatasetError {
            throw error.adding(file: file, recordIndex: record.index, offset: record.offset)
        }
    }

    /// The checks and copies shared by both representations of an Example.
    private static func decode<Source: BAIRFeatureSource>(_ source: Source, frames: Int,
                                                          camera: BAIRCamera) throws -> BAIRVideo {
        guard frames >= 1 else { throw DatasetError(.invalidRequest("frame count must be at least 1, got \(frames)")) }
        var actions = [Float]()
        actions.reserveCapacity(frames * actionSize)
        var positions = [Float]()
        positions.reserveCapacity(frames * endEffectorSize)
        let pixels = try [UInt8](unsafeUninitializedCapacity: frames * bytesPerFrame) { buffer, initialised in
            for t in 0..<frames {
                let key = imageKey(frame: t, camera: camera)
                guard let (kind, count) = source.shape(of: key) else { throw DatasetError(.missingKey(key)) }
                guard kind == "bytes_list" else {
                    throw DatasetError(.wrongFeatureKind(key: key, expected: "bytes_list", found: kind))
                }
                guard count == 1 else { throw DatasetError(.wrongValueCount(key: key, expected: 1, found: count)) }
                try source.withFirstBytes(key) { image in
                    guard image.count == bytesPerFrame else {
                        throw DatasetError(.wrongByteCount(key: key, expected: bytesPerFrame, found: image.count))
                    }
                    UnsafeMutableRawPointer(buffer.baseAddress! + t * bytesPerFrame)
                        .copyMemory(from: image.baseAddress!, byteCount: bytesPerFrame)
                }
                actions += try floats(source, actionKey(frame: t), count: actionSize)
                positions += try floats(source, endEffectorKey(frame: t), count: endEffectorSize)
            }
            initialised = frames * bytesPerFrame
        }
        return BAIRVideo(frameCount: frames, pixels: pixels, actions: actions, endEffectorPositions: positions)
    }

    private static func floats<Source: BAIRFeatureSource>(_ source: Source, _ key: String,
                                                          count: Int) throws -> [Float] {
        guard let (kind, found) = source.shape(of: key) else { throw DatasetError(.missingKey(key)) }
        guard kind == "float_list" else {
            throw DatasetError(.wrongFeatureKind(key: key, expected: "float_list", found: kind))
        }
        guard found == count else { throw DatasetError(.wrongValueCount(key: key, expected: count, found: found)) }
        return source.floats(key)
    }

    /// The number of leading frames 0, 1, 2, … that have an image for `camera` in `example`.
    public static func availableFrames(in example: TFExample, camera: BAIRCamera = .aux1) -> Int {
        var t = 0
        while example[imageKey(frame: t, camera: camera)] != nil { t += 1 }
        return t
    }

    /// The video as a BAIR Example (the other camera absent), e.g. to write test files.
    public func example(camera: BAIRCamera = .aux1) -> TFExample {
        var example = TFExample()
        for t in 0..<frameCount {
            let image = Array(pixels[(t * Self.bytesPerFrame)..<((t + 1) * Self.bytesPerFrame)])
            example[Self.imageKey(frame: t, camera: camera)] = .bytes([image])
            example[Self.actionKey(frame: t)] =
                .floats(Array(actions[(t * Self.actionSize)..<((t + 1) * Self.actionSize)]))
            example[Self.endEffectorKey(frame: t)] =
                .floats(Array(endEffectorPositions[(t * Self.endEffectorSize)..<((t + 1) * Self.endEffectorSize)]))
        }
        return example
    }
}

// MARK: - Example access for the decoder

/// What the decoder needs from an Example, in either representation.
private protocol BAIRFeatureSource {
    /// Kind name ("bytes_list", …) and value count of `key`, or nil if the key is absent.
    func shape(of key: String) -> (String, Int)?
    /// Calls `body` with the first byte string of a bytes_list feature.
    func withFirstBytes(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
    /// The values of a float_list feature.
    func floats(_ key: String) -> [Float]
}

extension TFExample: BAIRFeatureSource {
    fileprivate func shape(of key: String) -> (String, Int)? {
        features[key].map { ($0.kindName, $0.count) }
    }
    fileprivate func withFirstBytes(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard case .bytes(let values)? = features[key], let first = values.first else { return }
        try first.withUnsafeBytes(body)
    }
    fileprivate func floats(_ key: String) -> [Float] {
        guard case .floats(let values)? = features[key] else { return [] }
        return values
    }
}

/// An Example decoded in place: byte strings are ranges into the record's data.
private struct LocatedExample: BAIRFeatureSource {
    let features: [String: TFExample.LocatedFeature]
    let data: UnsafeRawBufferPointer

    func shape(of key: String) -> (String, Int)? {
        guard let feature = features[key] else { return nil }
        switch feature {
        case .bytes(let ranges): return (feature.kindName, ranges.count)
        case .floats(let values): return (feature.kindName, values.count)
        case .int64s(let values): return (feature.kindName, values.count)
        case .unset: return (feature.kindName, 0)
        }
    }
    func withFirstBytes(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard case .bytes(let ranges)? = features[key], let first = ranges.first else { return }
        try body(UnsafeRawBufferPointer(rebasing: data[first]))
    }
    func floats(_ key: String) -> [Float] {
        guard case .floats(let values)? = features[key] else { return [] }
        return values
    }
}

/// Reads the videos of one BAIR TFRecord file in order, verifying CRCs and shapes.
///
///     let reader = try BAIRVideoReader(path: path, frames: 16)
///     while let (index, video) = try reader.next() { … }
public final class BAIRVideoReader {
    public let path: String
    public let frames: Int
    public let camera: BAIRCamera
    private let records: TFRecordReader

    public init(path: String, frames: Int = BAIRVideo.framesPerRecord, camera: BAIRCamera = .aux1) throws {
        self.path = path
        self.frames = frames
        self.camera = camera
        records = try TFRecordReader(path: path)
    }

    /// The next record's index and video, or nil at the end of the file.
    public func next() throws -> (index: Int, video: BAIRVideo)? {
        guard let record = try records.next() else { return nil }
        return (record.index, try BAIRVideo(record: record, file: path, frames: frames, camera: camera))
    }

    /// Every video of the file.
    public static func readAll(path: String, frames: Int = BAIRVideo.framesPerRecord,
                               camera: BAIRCamera = .aux1) throws -> [BAIRVideo] {
        let reader = try BAIRVideoReader(path: path, frames: frames, camera: camera)
        var videos: [BAIRVideo] = []
        while let (_, video) = try reader.next() { videos.append(video) }
        return videos
    }
}
