// Whether a conditioned model's samples do what they were conditioned on — measured on the pixels of a
// samples.h5 drawn from a conditioned synthetic corpus (`vt prepare synthetic --actions` / `--classes K`),
// with SyntheticMeasures reading the gripper's position and the class off each frame (`vt inspect samples
// --synthetic`, docs/evaluation.md).
//
// - Action following: in the action-driven corpus the gripper's step from frame t−1 to frame t IS action
//   t−1's (dx, dy) (in reference units; × pixelsPerUnit in pixels). For every generated frame t ≥ 1 where
//   frames t−1 and t both show the gripper, the measured step is compared with the given action's:
//   `stepError` is the mean distance between them (pixels), `slope` the least-squares gain of measured on
//   given steps (1: the gripper moves as told; 0: it ignores the actions). The end point compares where
//   the gripper is in the last frame, seen from frame 0, with where the given actions lead: `endError`.
//   The same numbers for the real videos against the same given actions say what ignoring them costs
//   (with each video's own actions the real videos follow them up to the measurement's resolution).
// - Class consistency: the share of samples whose generated frames show the class they were given (the
//   class of their median colour), and the share of their pixels that have its colour.

import Datasets
import Foundation

/// How closely measured gripper motion follows given actions (pixels; see the file comment).
public struct ActionFollowing: Codable, Equatable, Sendable {
    /// Steps measured (gripper found in both frames), and generated frames where no gripper was found.
    public var steps: Int, missing: Int
    /// Mean distance between measured and given steps, in pixels.
    public var stepError: Double
    /// Least-squares gain of measured on given steps: Σ measured·given / Σ given·given.
    public var slope: Double
    /// Mean distance between the measured and the given displacement from frame 0 to the last frame, pixels
    /// (over clips whose first and last frames show the gripper), and the mean length of the given one.
    public var endError: Double, endGiven: Double
    public var clips: Int
}

/// The share of samples (and of real videos) showing the class they were given (SyntheticMeasures.label over
/// their generated frames), and the mean share of their generated pixels that have its colour
/// (SyntheticMeasures.classPixelShare): the first saturates once a model has learnt the classes' tables, the
/// second keeps measuring how much of a sample is off its class.
public struct ClassConsistency: Codable, Equatable, Sendable {
    public var samples: Int, consistent: Int
    public var truths: Int, truthConsistent: Int
    /// Mean share of generated pixels nearest the given class's table colour.
    public var pixelShare: Double, truthPixelShare: Double
    public init(samples: Int, consistent: Int, truths: Int, truthConsistent: Int, pixelShare: Double = 0, truthPixelShare: Double = 0) {
        self.samples = samples; self.consistent = consistent; self.truths = truths; self.truthConsistent = truthConsistent
        self.pixelShare = pixelShare; self.truthPixelShare = truthPixelShare
    }
    public var rate: Double { samples > 0 ? Double(consistent) / Double(samples) : 0 }
    public var truthRate: Double { truths > 0 ? Double(truthConsistent) / Double(truths) : 0 }
}

extension SampleFile {
    /// The actions each sample was given, [videos, K, T, A] flattened, and A; nil when the file has none.
    public func givenActions() throws -> (values: [Float], width: Int)? {
        do {
            guard try file.root.contains("actions") else { return nil }
            let dataset = try file.root.dataset("actions")
            let shape = try dataset.shape()
            guard shape.count == 4, Array(shape.prefix(3)) == [videos, samplesPerVideo, frames], shape[3] >= 2 else {
                throw EvaluationError("actions has shape \(shape); it must be [\(videos), \(samplesPerVideo), \(frames), A] with A ≥ 2 (dx, dy, …)")
            }
            return (try dataset.read(as: Float.self), shape[3])
        } catch let error as EvaluationError {
            throw EvaluationError("\(path): \(error.description)")
        } catch { throw EvaluationError("\(path): cannot read actions: \(error)") }
    }

    /// The label each sample was given, [videos, K] flattened; nil when the file has none.
    public func givenLabels() throws -> [Int]? {
        do {
            guard try file.root.contains("labels") else { return nil }
            let dataset = try file.root.dataset("labels")
            guard try dataset.shape() == [videos, samplesPerVideo] else {
                throw EvaluationError("labels has shape \(try dataset.shape()); it must be [\(videos), \(samplesPerVideo)]")
            }
            return try dataset.read(as: Int32.self).map(Int.init)
        } catch let error as EvaluationError {
            throw EvaluationError("\(path): \(error.description)")
        } catch { throw EvaluationError("\(path): cannot read labels: \(error)") }
    }

    /// How the samples' gripper (and the real videos') follows the actions the samples were given; nil when
    /// the file holds no actions.
    public func actionFollowing() throws -> (samples: ActionFollowing, truth: ActionFollowing)? {
        guard let (actions, width) = try givenActions() else { return nil }
        let scale = SyntheticMeasures.pixelsPerUnit(height: height, width: self.width)
        let generated = Set(generatedFrames)
        var samples = Accumulator(), truth = Accumulator()
        for v in 0..<videos {
            let (real, row) = try pixels(video: v)
            for s in 0..<samplesPerVideo {
                let base = (v * samplesPerVideo + s) * frames * width
                let given = (0..<frames).map { t in (Double(actions[base + t * width]) * scale, Double(actions[base + t * width + 1]) * scale) }
                row.withUnsafeBufferPointer {
                    samples.add(path: SyntheticMeasures.gripperPath(video: $0.baseAddress! + s * clipBytes, frames: frames, height: height, width: self.width),
                                given: given, generated: generated)
                }
                // The real video once per video: its samples share the actions (samples.h5 stores them per sample).
                if s == 0 {
                    real.withUnsafeBufferPointer {
                        truth.add(path: SyntheticMeasures.gripperPath(video: $0.baseAddress!, frames: frames, height: height, width: self.width),
                                  given: given, generated: generated)
                    }
                }
            }
        }
        return (samples.result, truth.result)
    }

    /// How many samples (and real videos) show the class they were given, read with SyntheticMeasures.label
    /// over their generated frames; `classes` is the corpus's K. Nil when the file holds no labels.
    public func classConsistency(classes: Int) throws -> ClassConsistency? {
        guard (1...SyntheticVideoGenerator.maximumClasses).contains(classes) else {
            throw EvaluationError("--classes must be in 1...\(SyntheticVideoGenerator.maximumClasses), the synthetic corpus's classes (got \(classes))")
        }
        guard let labels = try givenLabels() else { return nil }
        var result = ClassConsistency(samples: 0, consistent: 0, truths: 0, truthConsistent: 0)
        let frameBytes = height * width * 3
        /// A clip's generated frames, one after another.
        func generated(_ clip: UnsafePointer<UInt8>) -> [UInt8] {
            var frames = [UInt8]()
            frames.reserveCapacity(generatedFrames.count * frameBytes)
            for t in generatedFrames { frames += UnsafeBufferPointer(start: clip + t * frameBytes, count: frameBytes) }
            return frames
        }
        /// Whether a clip's generated frames show `label`, and the share of their pixels with its colour.
        func measure(_ clip: UnsafePointer<UInt8>, _ label: Int) -> (shows: Bool, share: Double) {
            generated(clip).withUnsafeBufferPointer {
                (SyntheticMeasures.label(video: $0.baseAddress!, frames: generatedFrames.count, height: height, width: width, classes: classes) == label,
                 SyntheticMeasures.classPixelShare(video: $0.baseAddress!, pixels: $0.count / 3, classes: classes, label: label))
            }
        }
        var share = 0.0, truthShare = 0.0
        for v in 0..<videos {
            let (real, row) = try pixels(video: v)
            for s in 0..<samplesPerVideo {
                let label = labels[v * samplesPerVideo + s]
                guard (0..<classes).contains(label) else { continue }  // "no label" (K) or another corpus's class
                let sample = row.withUnsafeBufferPointer { measure($0.baseAddress! + s * clipBytes, label) }
                result.samples += 1
                if sample.shows { result.consistent += 1 }
                share += sample.share
                if s == 0 {
                    let truth = real.withUnsafeBufferPointer { measure($0.baseAddress!, label) }
                    result.truths += 1
                    if truth.shows { result.truthConsistent += 1 }
                    truthShare += truth.share
                }
            }
        }
        result.pixelShare = result.samples > 0 ? share / Double(result.samples) : .nan
        result.truthPixelShare = result.truths > 0 ? truthShare / Double(result.truths) : .nan
        return result
    }
}

/// Sums of one side (samples or real videos) of `actionFollowing`.
private struct Accumulator {
    var steps = 0, missing = 0, clips = 0
    var stepError = 0.0, dot = 0.0, norm = 0.0, endError = 0.0, endGiven = 0.0

    /// One clip: its measured gripper path and the given steps in pixels (row t: the step from frame t to t+1).
    mutating func add(path: [(x: Double, y: Double)?], given: [(Double, Double)], generated: Set<Int>) {
        for t in 1..<path.count where generated.contains(t) {
            guard let now = path[t] else { missing += 1; continue }
            guard let before = path[t - 1] else { continue }
            let measured = (now.x - before.x, now.y - before.y), told = given[t - 1]
            stepError += hypot(measured.0 - told.0, measured.1 - told.1)
            dot += measured.0 * told.0 + measured.1 * told.1
            norm += told.0 * told.0 + told.1 * told.1
            steps += 1
        }
        if path.count >= 2, let first = path[0], let last = path[path.count - 1] {
            var told = (0.0, 0.0)
            for t in 0..<(path.count - 1) { told.0 += given[t].0; told.1 += given[t].1 }
            endError += hypot(last.x - first.x - told.0, last.y - first.y - told.1)
            endGiven += hypot(told.0, told.1)
            clips += 1
        }
    }

    var result: ActionFollowing {
        ActionFollowing(steps: steps, missing: missing, stepError: steps > 0 ? stepError / Double(steps) : .nan,
                        slope: norm > 0 ? dot / norm : .nan, endError: clips > 0 ? endError / Double(clips) : .nan,
                        endGiven: clips > 0 ? endGiven / Double(clips) : .nan, clips: clips)
    }
}

extension SampleFile {
    /// The sampling job's protocol stored in the file (nil when another tool wrote it without one).
    public var storedProtocol: SamplingProtocol? {
        (try? file.root.hasAttribute("checkpoint")) == true
            ? try? SamplingProtocol.read(from: file.root, frames: frames, height: height, width: width) : nil
    }

    /// The file's datasets with their shapes, in name order.
    public func datasetShapes() throws -> [(name: String, shape: [Int])] {
        do {
            return try file.root.children().sorted().compactMap { name in
                try file.root.kind(of: name) == .dataset ? (name, try file.root.dataset(name).shape()) : nil
            }
        } catch { throw EvaluationError("\(path): cannot list its datasets: \(error)") }
    }
}
