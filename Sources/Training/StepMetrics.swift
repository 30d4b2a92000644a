// StepMetrics: what one optimizer step reports — the numbers of metrics.jsonl and TensorBoard, and its
// StepTrace: the spans a `--timeline` shows (compute per micro-batch, the wait for gradients, each bucket's
// reduction on the communication thread, the parameter all-gather, the model axis's activation all-reduces)
// with the communication times the metrics add up from them.
//
// The step only records (a few values per span, names made when written); whoever owns a Timeline writes
// the spans after the step (TrainingRun), so the step never asks whether a trace was requested.
// Leaves out: the Chrome trace format (Timeline.swift), the model's own phase times (VideoModel's PhaseTimes).

import Common
import Foundation
import Distribution
import VideoModel

public struct StepMetrics: Sendable {
    /// Global steps completed after this one (1-based).
    public var step: Int
    public var loss: Double
    public var bitsPerDim: Double { loss / M_LN2 }
    public var learningRate: Double
    public var gradientNorm: Double
    public var stepSeconds: Double
    public var examples: Int
    public var phases: PhaseTimes
    public var optimizerSeconds: Double
    /// Seconds this step waited for its clips (0 when the background read was done in time).
    public var dataWaitSeconds: Double
    /// Cross-rank parameter checksum, when it was verified after this step.
    public var parameterChecksum: UInt64?
    /// Where the step's time went beyond compute, span by span.
    public var trace: StepTrace

    /// Seconds this rank waited for gradient communication after its backward finished (with ZeRO-1,
    /// plus the parameter all-gather after the update).
    public var communicationSeconds: Double { trace.communicationSeconds }
    /// Seconds during which some gradient bucket was being reduced (mostly hidden behind backward).
    public var communicationBusySeconds: Double { trace.communicationBusySeconds }
    /// Seconds in the model axis's activation all-reduces (forward and backward; not overlapped).
    public var modelAxisSeconds: Double { trace.modelAxisSeconds }
    public var examplesPerSecond: Double { Double(examples) / max(stepSeconds, 1e-12) }
}

/// One span of a step on the `monotonicSeconds()` clock.
public struct StepSpan: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Forward and backward of one micro-batch (the last one's backward overlaps the gradient buckets).
        case compute(microBatch: Int)
        /// After backward: waiting for the last buckets and the loss's sum (with ZeRO-1, the gradient norm's).
        case waitForGradients
        /// One bucket's reduction on the communication thread (docs/design.md §4): all-reduce, or ZeRO-1's reduce-scatter.
        case bucket(Int, reduceScatter: Bool)
        /// ZeRO-1: every data rank's updated range to every data rank (docs/design.md §9).
        case allGatherParameters
        /// One of the model's activation sums over the model axis (on the main thread).
        case modelAxisAllReduce
    }

    public let kind: Kind
    public let start: Double, end: Double

    public var name: String {
        switch kind {
        case .compute(let microBatch): "forward+backward \(microBatch)"
        case .waitForGradients: "wait for gradients"
        case .bucket(let index, let reduceScatter): "\(reduceScatter ? "reduce-scatter" : "all-reduce") bucket \(index)"
        case .allGatherParameters: "all-gather parameters"
        case .modelAxisAllReduce: "model-axis all-reduce"
        }
    }

    public var category: String {
        if case .compute = kind { return "compute" }
        return "communication"
    }

    /// The timeline's lane: 0 the main thread, 1 the communication thread.
    public var lane: Int {
        if case .bucket = kind { return 1 }
        return 0
    }
}

/// The spans of one step, in the order they were recorded, and the communication times they add up to.
public struct StepTrace: Sendable {
    /// The step's index (0-based: global steps completed before it).
    public let step: Int
    public private(set) var spans: [StepSpan] = []
    /// See StepMetrics.communicationSeconds.
    public var communicationSeconds = 0.0
    /// See StepMetrics.communicationBusySeconds.
    public var communicationBusySeconds = 0.0
    /// See StepMetrics.modelAxisSeconds.
    public var modelAxisSeconds = 0.0

    public init(step: Int) { self.step = step }

    public mutating func record(_ kind: StepSpan.Kind, from start: Double, to end: Double) {
        spans.append(StepSpan(kind: kind, start: start, end: end))
    }

    /// The wait after backward: its span and its time.
    mutating func recordWait(from start: Double, to end: Double) {
        communicationSeconds += end - start
        record(.waitForGradients, from: start, to: end)
    }

    /// The bucketed reducer's step: each bucket's span, and the time some bucket was in flight.
    mutating func record(_ timings: AllReduceTimings, reduceScatter: Bool) {
        communicationBusySeconds = timings.communicationSeconds
        for (index, interval) in timings.bucketIntervals.enumerated() {
            record(.bucket(index, reduceScatter: reduceScatter), from: interval.start, to: interval.end)
        }
    }
}

extension Timeline {
    /// Writes a step's spans (the Chrome trace's names, categories and lanes).
    public func record(_ trace: StepTrace) {
        for span in trace.spans {
            self.span(span.name, category: span.category, start: microseconds(span.start), end: microseconds(span.end),
                      thread: span.lane, step: trace.step)
        }
    }
}

extension StepTrace {
    /// The model axis's activation all-reduces of this step (recorded by the model's reduce as it ran).
    mutating func record(_ modelAxis: ModelAxisTimer) {
        modelAxisSeconds = modelAxis.seconds
        for interval in modelAxis.intervals { record(.modelAxisAllReduce, from: interval.start, to: interval.end) }
    }
}
