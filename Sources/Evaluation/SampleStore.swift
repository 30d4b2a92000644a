// SampleStore: the sampling job's files in its output folder, written so that a crash at any moment loses
// at most the samples of the round in flight and never leaves a damaged file behind.
//
//   parts/part-v<video>-s<sample>.h5   one per round of the job: the finished samples of every rank
//                                       (datasets items, samples, log_likelihood, psnr, ssim), written
//                                       under a temporary name, fsynced, renamed, the folder fsynced
//   samples.h5                          the assembled result (docs/design.md §10), written the same way; the
//                                       parts it holds are deleted only after it is in place
//
// Every file carries the SamplingProtocol's attributes; `scan` reads the parts and a previous samples.h5
// and refuses files drawn under another protocol, so a resumed job never mixes samples.
//
// samples.h5: samples uint8 [videos, K, T, H, W, 3], ground_truth uint8 [videos, T, H, W, 3],
// log_likelihood float64 [videos, K] (nats, Σ log p of the generated sub-pixels under the untempered
// model), psnr and ssim float64 [videos, K, G] per generated frame, generated_frames int64 [G];
// attributes format "vt-samples", samples_per_video, seed, temperature, prime_frames, precision,
// parameters_crc32c, step, checkpoint, guidance, conditioning. A conditioned model's samples add what they
// were given (docs/design.md §11): actions float32 [videos, K, T, A] and labels int32 [videos, K].

import Foundation
import Checkpointing
import HDF5

/// One finished sample: its pixels and the scores of its generated frames against the real video.
public struct SampleRecord: Sendable {
    public var item: SampleItem
    public var pixels: [UInt8]
    public var logLikelihood: Double
    public var psnr: [Double], ssim: [Double]

    public init(item: SampleItem, pixels: [UInt8], logLikelihood: Double, psnr: [Double], ssim: [Double]) {
        self.item = item; self.pixels = pixels; self.logLikelihood = logLikelihood; self.psnr = psnr; self.ssim = ssim
    }

    /// Flat bytes for the gather to rank 0: video, sample, log-likelihood, PSNR, SSIM, pixels.
    static func encode(_ records: [SampleRecord]) -> [UInt8] {
        var bytes: [UInt8] = []
        for record in records {
            withUnsafeBytes(of: Int64(record.item.video).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: Int64(record.item.sample).littleEndian) { bytes += $0 }
            for value in [record.logLikelihood] + record.psnr + record.ssim { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
            bytes += record.pixels
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8], generatedFrames g: Int, clipBytes: Int) -> [SampleRecord] {
        let size = 16 + 8 * (1 + 2 * g) + clipBytes
        precondition(bytes.count % size == 0, "SampleRecord.decode: \(bytes.count) bytes are not whole records of \(size)")
        return bytes.withUnsafeBytes { raw in
            stride(from: 0, to: bytes.count, by: size).map { start in
                func int(_ at: Int) -> Int64 { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: start + at, as: Int64.self)) }
                func double(_ index: Int) -> Double {
                    Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 16 + 8 * index, as: UInt64.self)))
                }
                let pixels = start + 16 + 8 * (1 + 2 * g)
                return SampleRecord(item: SampleItem(video: Int(int(0)), sample: Int(int(8))),
                                    pixels: Array(raw[pixels..<(pixels + clipBytes)]), logLikelihood: double(0),
                                    psnr: (0..<g).map { double(1 + $0) }, ssim: (0..<g).map { double(1 + g + $0) })
            }
        }
    }
}

/// Where a finished sample's pixels are, with its scores (read by `scan`).
public struct StoredSample: Sendable {
    public enum Place: Sendable, Equatable {
        /// Row `row` of a part file's `samples`.
        case part(path: String, row: Int)
        /// `samples[video, sample]` of an assembled samples.h5.
        case assembled(path: String)
    }
    public var place: Place
    public var logLikelihood: Double
    public var psnr: [Double], ssim: [Double]
}

public final class SampleStore {
    public let directory: URL
    public let sampling: SamplingProtocol
    public var partsDirectory: URL { directory.appendingPathComponent("parts") }
    public var samplesFile: URL { directory.appendingPathComponent("samples.h5") }

    public init(directory: URL, protocol sampling: SamplingProtocol) {
        self.directory = directory; self.sampling = sampling
    }

    var generated: Int { sampling.generatedFrames.count }
    /// Sample `index`'s per-frame scores in a flat [samples, G] array.
    func frames(_ scores: [Double], _ index: Int) -> [Double] { Array(scores[(index * generated)..<((index + 1) * generated)]) }
    var clipShape: [Int] { [sampling.frames, sampling.height, sampling.width, 3] }

    /// The part files in the folder (finished ones; temporaries of a crashed write are removed).
    public func partFiles() throws -> [URL] {
        guard FileManager.default.fileExists(atPath: partsDirectory.path) else { return [] }
        let names = try FileManager.default.contentsOfDirectory(atPath: partsDirectory.path).sorted()
        for name in names where name.hasPrefix(".part-") { try? FileManager.default.removeItem(at: partsDirectory.appendingPathComponent(name)) }
        return names.filter { $0.hasPrefix("part-") && $0.hasSuffix(".h5") }.map { partsDirectory.appendingPathComponent($0) }
    }

    /// Every finished sample in the folder: the parts, and (when `includeAssembled`) a previous samples.h5
    /// of this protocol. A file of another protocol, or one that cannot be read, is an error naming it.
    public func scan(includeAssembled: Bool) throws -> [SampleItem: StoredSample] {
        var found: [SampleItem: StoredSample] = [:]
        for url in try partFiles() {
            try read(url.path) { file in
                let items = try file.root.dataset("items").read(as: Int64.self)
                let count = items.count / 2
                try check(file, dataset: "samples", shape: [count] + clipShape)
                try checkProtocol(file)
                let likelihood = try file.root.dataset("log_likelihood").read(as: Double.self)
                let psnr = try file.root.dataset("psnr").read(as: Double.self), ssim = try file.root.dataset("ssim").read(as: Double.self)
                guard likelihood.count == count, psnr.count == count * generated, ssim.count == count * generated else {
                    throw EvaluationError("the part's scores do not match its \(count) samples")
                }
                for row in 0..<count {
                    let item = SampleItem(video: Int(items[2 * row]), sample: Int(items[2 * row + 1]))
                    found[item] = StoredSample(place: .part(path: url.path, row: row), logLikelihood: likelihood[row],
                                               psnr: frames(psnr, row), ssim: frames(ssim, row))
                }
            }
        }
        guard includeAssembled, FileManager.default.fileExists(atPath: samplesFile.path) else { return found }
        try read(samplesFile.path) { file in
            guard try file.root.contains("samples"), try file.root.contains("psnr") else { return }  // not a job's file: replaced
            let shape = try file.root.dataset("samples").shape()
            guard shape.count == 6, Array(shape[2...]) == clipShape else {
                throw EvaluationError("samples has shape \(shape), not [videos, K] + \(clipShape)")
            }
            try checkProtocol(file)
            let (videos, k) = (shape[0], shape[1])
            let likelihood = try file.root.dataset("log_likelihood").read(as: Double.self)
            let psnr = try file.root.dataset("psnr").read(as: Double.self), ssim = try file.root.dataset("ssim").read(as: Double.self)
            guard likelihood.count == videos * k, psnr.count == videos * k * generated, ssim.count == psnr.count else {
                throw EvaluationError("its scores do not match its \(videos) × \(k) samples")
            }
            for v in 0..<videos { for s in 0..<k {
                let index = v * k + s, item = SampleItem(video: v, sample: s)
                guard found[item] == nil else { continue }
                found[item] = StoredSample(place: .assembled(path: samplesFile.path), logLikelihood: likelihood[index],
                                           psnr: frames(psnr, index), ssim: frames(ssim, index))
            } }
        }
        return found
    }

    /// Writes one round's samples as a new part file, durably (temporary name, fsync, rename, folder fsync).
    @discardableResult
    public func writePart(_ records: [SampleRecord]) throws -> [SampleItem: StoredSample] {
        guard let first = records.min(by: { $0.item < $1.item })?.item else { return [:] }
        try FileManager.default.createDirectory(at: partsDirectory, withIntermediateDirectories: true)
        var name = String(format: "part-v%06d-s%05d.h5", first.video, first.sample), suffix = 1
        while FileManager.default.fileExists(atPath: partsDirectory.appendingPathComponent(name).path) {
            name = String(format: "part-v%06d-s%05d-%d.h5", first.video, first.sample, suffix); suffix += 1
        }
        let final = partsDirectory.appendingPathComponent(name).path
        try Self.writeDurably(final) { file in
            try file.root.createDataset("items", shape: [records.count, 2], values: records.flatMap { [Int64($0.item.video), Int64($0.item.sample)] })
            try file.root.createDataset("samples", shape: [records.count] + clipShape, values: records.flatMap(\.pixels),
                                        chunkShape: [1] + clipShape)
            try file.root.createDataset("log_likelihood", shape: [records.count], values: records.map(\.logLikelihood))
            try file.root.createDataset("psnr", shape: [records.count, generated], values: records.flatMap(\.psnr))
            try file.root.createDataset("ssim", shape: [records.count, generated], values: records.flatMap(\.ssim))
            try file.root.setAttribute("format", "vt-sample-part")
            try sampling.write(to: file.root)
        }
        var placed: [SampleItem: StoredSample] = [:]
        for (row, record) in records.enumerated() {
            placed[record.item] = StoredSample(place: .part(path: final, row: row), logLikelihood: record.logLikelihood,
                                               psnr: record.psnr, ssim: record.ssim)
        }
        return placed
    }

    /// Writes samples.h5 for videos 0..<videos × samples 0..<k from `stored` (which must hold them all),
    /// with `groundTruth(v, buffer)` filling video v's real clip and `conditions(v)` giving what its samples were
    /// conditioned on (conditioned models); then deletes the parts it made redundant.
    public func assemble(videos: Int, samplesPerVideo k: Int, stored: [SampleItem: StoredSample],
                         groundTruth: (Int, UnsafeMutablePointer<UInt8>) throws -> Void,
                         conditions: ((Int) throws -> (actions: [Float]?, labels: [Int]?))? = nil) throws {
        if isAssembled(videos: videos, samplesPerVideo: k, stored: stored) { return }
        let clip = sampling.clipBytes
        var used = Set<String>()
        let reader = PixelReader(clipShape: clipShape)
        try Self.writeDurably(samplesFile.path) { file in
            let samples = try file.root.createDataset("samples", elementType: .uint8, shape: [videos, k] + clipShape, chunkShape: [1, 1] + clipShape)
            let truth = try file.root.createDataset("ground_truth", elementType: .uint8, shape: [videos] + clipShape, chunkShape: [1] + clipShape)
            var row = [UInt8](repeating: 0, count: k * clip), real = [UInt8](repeating: 0, count: clip)
            var likelihood: [Double] = [], psnr: [Double] = [], ssim: [Double] = []
            for v in 0..<videos {
                for s in 0..<k {
                    let item = SampleItem(video: v, sample: s)
                    guard let entry = stored[item] else { throw EvaluationError("\(item) was never drawn (internal error)") }
                    try row.withUnsafeMutableBufferPointer { try reader.read(entry.place, item: item, into: $0.baseAddress! + s * clip) }
                    if case .part(let path, _) = entry.place { used.insert(path) }
                    likelihood.append(entry.logLikelihood); psnr += entry.psnr; ssim += entry.ssim
                }
                try row.withUnsafeBytes { try samples.writeRows(startingAt: v, from: $0) }
                try real.withUnsafeMutableBufferPointer { try groundTruth(v, $0.baseAddress!) }
                try real.withUnsafeBytes { try truth.writeRows(startingAt: v, from: $0) }
            }
            reader.close()
            try file.root.createDataset("log_likelihood", shape: [videos, k], values: likelihood)
            try file.root.createDataset("psnr", shape: [videos, k, generated], values: psnr)
            try file.root.createDataset("ssim", shape: [videos, k, generated], values: ssim)
            try file.root.createDataset("generated_frames", shape: [generated], values: sampling.generatedFrames.map(Int64.init))
            if let conditions { try writeConditions(file, videos: videos, samplesPerVideo: k, conditions) }
            try file.root.setAttribute("format", "vt-samples")
            try file.root.setAttribute("samples_per_video", Int64(k))
            try sampling.write(to: file.root)
        }
        // A part is redundant once every sample in it is in samples.h5.
        let inFile = { (item: SampleItem) in item.video < videos && item.sample < k }
        var partial = Set<String>()
        for (item, entry) in stored { if case .part(let path, _) = entry.place, !inFile(item) { partial.insert(path) } }
        for path in used.subtracting(partial) { try? FileManager.default.removeItem(atPath: path) }
        if let left = try? FileManager.default.contentsOfDirectory(atPath: partsDirectory.path), left.isEmpty {
            try? FileManager.default.removeItem(at: partsDirectory)
        }
    }

    /// `actions` [videos, K, T, A] and `labels` [videos, K]: each sample's conditioning (the same for a video's K).
    func writeConditions(_ file: HDF5File, videos: Int, samplesPerVideo k: Int,
                         _ conditions: (Int) throws -> (actions: [Float]?, labels: [Int]?)) throws {
        var actions: [Float] = [], labels: [Int32] = [], width = 0, labelled = false
        for v in 0..<videos {
            let given = try conditions(v)
            if let row = given.actions {
                width = row.count / sampling.frames
                for _ in 0..<k { actions += row }
            }
            if let label = given.labels?.first {
                labelled = true
                labels += Array(repeating: Int32(label), count: k)
            }
        }
        if width > 0 { try file.root.createDataset("actions", shape: [videos, k, sampling.frames, width], values: actions) }
        if labelled { try file.root.createDataset("labels", shape: [videos, k], values: labels) }
    }

    // MARK: - Keeping a finished samples.h5

    /// Whether samples.h5 already is what `assemble` would write: it holds exactly videos × k samples and
    /// every one of them comes from it (nothing drawn since). Then it is kept as it is — re-scoring does not
    /// rewrite the file, and scores added to it later (`lpips`, SampleFile+LPIPS.swift) stay.
    func isAssembled(videos: Int, samplesPerVideo k: Int, stored: [SampleItem: StoredSample]) -> Bool {
        let path = samplesFile.path
        for v in 0..<videos {
            for s in 0..<k where stored[SampleItem(video: v, sample: s)]?.place != .assembled(path: path) { return false }
        }
        guard let file = try? HDF5File.open(path) else { return false }
        defer { try? file.close() }
        return (try? file.root.dataset("samples").shape()).map { Array($0.prefix(2)) } == [videos, k]
    }

    // MARK: - Files

    func read(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        do {
            let file = try HDF5File.open(path)
            defer { try? file.close() }
            try body(file)
        } catch let error as EvaluationError {
            throw EvaluationError("\(path): \(error.description); delete it or choose another --output")
        } catch {
            throw EvaluationError("\(path): cannot read this sampling file (\(error)); delete it to draw its samples again")
        }
    }

    func check(_ file: HDF5File, dataset: String, shape: [Int]) throws {
        let actual = try file.root.dataset(dataset).shape()
        guard actual == shape else { throw EvaluationError("\(dataset) has shape \(actual), expected \(shape)") }
    }

    func checkProtocol(_ file: HDF5File) throws {
        let stored = try SamplingProtocol.read(from: file.root, frames: sampling.frames, height: sampling.height, width: sampling.width)
        if let difference = stored.mismatch(sampling) {
            throw EvaluationError("it was drawn with \(difference)")
        }
    }

    /// Writes `path` crash-safely: under a temporary name in the same folder `body` fills a new file (or, with
    /// `fromCopy`, a copy of the file at `path`), then fsync, rename over `path` and folder fsync — a crash
    /// leaves the old file or the new one. On failure the temporary file goes and the error says `failure`.
    static func writeDurably(_ path: String, fromCopy: Bool = false, temporarySuffix: String? = nil,
                             failure: String = "cannot write it", _ body: (HDF5File) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let name = temporarySuffix.map { ".\(url.lastPathComponent).\($0)" }
            ?? ".\(url.lastPathComponent.replacingOccurrences(of: ".h5", with: "")).partial"
        let temporary = url.deletingLastPathComponent().appendingPathComponent("\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            let file: HDF5File
            if fromCopy {
                try FileManager.default.copyItem(atPath: path, toPath: temporary)
                file = try HDF5File.open(temporary, mode: .readWrite)
            } else {
                file = try HDF5File.create(temporary)
            }
            do { try body(file); try file.close() } catch { file.abandon(); throw error }
            try Durability.fsync(path: temporary)
            try Durability.rename(temporary, to: path)
            try Durability.fsync(path: folder, isDirectory: true)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw EvaluationError("\(path): \(failure): \(error)")
        }
    }
}

/// Reads samples' pixels from parts and assembled files, keeping a few recently used files in memory.
final class PixelReader {
    let clipShape: [Int]
    var clipBytes: Int { clipShape.reduce(1, *) }
    private var parts: [(path: String, pixels: [UInt8])] = []
    private var assembled: (path: String, file: HDF5File, k: Int)?
    private var assembledRow: (video: Int, pixels: [UInt8])?

    init(clipShape: [Int]) { self.clipShape = clipShape }

    func read(_ place: StoredSample.Place, item: SampleItem, into buffer: UnsafeMutablePointer<UInt8>) throws {
        switch place {
        case .part(let path, let row):
            if parts.first(where: { $0.path == path }) == nil {
                let file = try HDF5File.open(path)
                defer { try? file.close() }
                parts.append((path, try file.root.dataset("samples").read(as: UInt8.self)))
                if parts.count > 4 { parts.removeFirst() }
            }
            let pixels = parts.first { $0.path == path }!.pixels
            pixels.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + row * clipBytes, count: clipBytes) }
        case .assembled(let path):
            if assembled?.path != path {
                let file = try HDF5File.open(path)
                assembled = (path, file, try file.root.dataset("samples").shape()[1])
                assembledRow = nil
            }
            if assembledRow?.video != item.video {
                assembledRow = (item.video, try assembled!.file.root.dataset("samples").readRows(item.video..<(item.video + 1), as: UInt8.self))
            }
            assembledRow!.pixels.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress! + item.sample * clipBytes, count: clipBytes) }
        }
    }

    func close() { try? assembled?.file.close(); assembled = nil; parts = [] }
}
