// vt inspect samples FILE [--synthetic] [--classes K] [--json]: what a samples.h5 holds — videos, samples,
// frames, what was primed and how the samples were drawn (checkpoint, seed, temperature, guidance,
// conditioning), its datasets — and, for samples of the conditioned synthetic corpora, whether they do what
// they were conditioned on: the gripper's motion against the given actions, the shown class against the
// given label (SampleFile+SyntheticMeasures, docs/evaluation.md).

import ArgumentParser
import Common
import Evaluation
import Foundation

struct InspectSamples: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Describe a samples.h5 and, on the conditioned synthetic corpora, measure whether its samples follow the given actions and show the given class.")

    @Argument(help: "A samples.h5 (or the folder vt sample wrote it to).") var path: String
    @Flag(help: "Measure the synthetic corpus's properties on every sample: the gripper against the given actions (vt prepare synthetic --actions), the class against the given label (with --classes).")
    var synthetic = false
    @Option(help: "The synthetic corpus's number of classes (vt prepare synthetic --classes K), for the class measure.")
    var classes: Int?
    @Flag(help: "Print one JSON object instead of text.") var json = false

    struct Report: Encodable {
        var path: String
        var videos: Int, samplesPerVideo: Int, frames: Int, height: Int, width: Int
        var primeFrames: [Int]
        /// Long samples (docs/design.md §12): the sliding windows they were drawn in.
        var windows: String?
        var checkpoint: String?, step: Int?, seed: UInt64?, temperature: Double?, precision: String?
        var guidance: Double?, conditioning: String?
        var datasets: [String: [Int]]
        var actionFollowing: ActionFollowing?, truthActionFollowing: ActionFollowing?
        var classConsistency: ClassConsistency?
    }

    func validate() throws {
        if classes != nil && !synthetic { throw ValidationError("--classes is a synthetic measure: give --synthetic too") }
    }

    func run() throws {
        do {
            var isFolder: ObjCBool = false
            let file = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
                ? URL(fileURLWithPath: path).appendingPathComponent("samples.h5").path : path
            let samples = try SampleFile(path: file)
            let stored = samples.storedProtocol
            var report = Report(path: file, videos: samples.videos, samplesPerVideo: samples.samplesPerVideo, frames: samples.frames,
                                height: samples.height, width: samples.width, primeFrames: samples.primeFrames,
                                checkpoint: stored?.checkpoint, step: stored?.step, seed: stored?.seed, temperature: stored?.temperature,
                                precision: stored?.precision, guidance: stored?.guidance, conditioning: stored?.conditioning,
                                datasets: Dictionary(uniqueKeysWithValues: try samples.datasetShapes().map { ($0.name, $0.shape) }))
            if let windows = samples.windows, windows.count > 1 { report.windows = windows.description }
            if synthetic {
                if let following = try samples.actionFollowing() {
                    report.actionFollowing = following.samples
                    report.truthActionFollowing = following.truth
                }
                if let classes { report.classConsistency = try samples.classConsistency(classes: classes) }
                if report.actionFollowing == nil && report.classConsistency == nil {
                    throw EvaluationError("\(file): nothing to measure: it holds no actions"
                                          + (classes == nil ? " (for the class measure give --classes K)" : " and no labels"))
                }
            }
            print(json ? try JSONFormat.string(report) : text(report))
        } catch {
            throw fail(error)
        }
    }

    func text(_ r: Report) -> String {
        var lines = ["\(r.path): \(r.videos) videos × \(r.samplesPerVideo) samples of \(r.frames)×\(r.height)×\(r.width)×3; "
                     + "primed frames \(r.primeFrames.isEmpty ? "none" : r.primeFrames.map(String.init).joined(separator: ", "))"]
        if let windows = r.windows { lines.append("  drawn in \(windows)") }
        if let checkpoint = r.checkpoint {
            lines.append("  drawn from \(checkpoint) (step \(r.step ?? -1)), seed \(r.seed ?? 0), temperature \(r.temperature ?? 1), "
                         + "\(r.precision ?? "?") products, guidance \(r.guidance ?? 0); conditioning: \(r.conditioning ?? "data")")
        }
        lines.append("  datasets: " + r.datasets.sorted { $0.key < $1.key }
            .map { "\($0.key) [\($0.value.map(String.init).joined(separator: ", "))]" }.joined(separator: ", "))
        func describe(_ f: ActionFollowing) -> String {
            String(format: "step error %.2f px, slope %.2f over %d steps; end error %.2f px of %.2f px given over %d clips",
                   f.stepError, f.slope, f.steps, f.endError, f.endGiven, f.clips)
                + (f.missing > 0 ? "; \(f.missing) generated frames show no gripper" : "")
        }
        if let samples = r.actionFollowing, let truth = r.truthActionFollowing {
            lines.append("gripper against the given actions (slope 1: moves as told, 0: ignores them):")
            lines.append("  samples:     " + describe(samples))
            lines.append("  real videos: " + describe(truth))
        }
        if let c = r.classConsistency {
            lines.append(String(format: "class shown = class given: samples %.3f (%d of %d), real videos %.3f (%d of %d)",
                                c.rate, c.consistent, c.samples, c.truthRate, c.truthConsistent, c.truths))
            lines.append(String(format: "pixels of the given class's colour: samples %.4f, real videos %.4f", c.pixelShare, c.truthPixelShare))
        }
        return lines.joined(separator: "\n")
    }
}
