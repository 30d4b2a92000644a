// Conditioning (docs/design.md §11): what a video is given besides its pixels — the actions that moved
// it and its class — added to both stacks at every position of a frame:
//
//   encoder   x[p]  += term_enc[b, t(p)]       (after the input projection, beside the positions)
//   decoder   y0[p] += term_dec[b, t(p)]       (after the conditioning on the encoder)
//   term[b, t] = c_t·Wa + ba + class_embedding[label_b]
//
// c_t is the action that led to frame t: the clip's action row t − 1 for t ≥ 1, and 0 for t = 0. Position p
// = (i, j, l) of slice (a, b, c) lies in frame t(p) = a + i·st. A term is made once per (video, frame), by the
// same loop in training and in the cached sampler, so both add exactly the same values. Backward sums
// d(stream) over each (video, frame)'s positions in raster order and takes the tensors' gradients from those
// sums. With no actions and no classes nothing here runs and the model is bitwise the unconditioned one.
//
// Leaves out: reading actions and labels from shards (Datasets) and label dropout (Training).

import Kernels

/// The conditioning buffers (ActivationPlan: "conditioning/…"): c_t per (video, frame), each stack's terms,
/// and backward's per-(video, frame) sums of d(stream).
struct ConditioningInput {
    let frameActions: FloatBuffer?
    let encoderTerms: FloatBuffer?, decoderTerms: FloatBuffer?
    let termGradients: FloatBuffer

    init(_ arena: ActivationArena) {
        frameActions = arena.floatIfPlanned("conditioning/frame_actions")
        encoderTerms = arena.floatIfPlanned("conditioning/encoder_terms")
        decoderTerms = arena.floatIfPlanned("conditioning/decoder_terms")
        termGradients = arena.floatIfPlanned("conditioning/term_gradients") ?? FloatBuffer(count: 0)
    }
}

/// What a batch is conditioned on, as the model reads it.
public struct Conditioning {
    /// [B, T, A] each clip's actions, clip-aligned (row t: the action taken at the clip's frame t), or nil
    /// when the model has no actions.
    public var actions: UnsafePointer<Float>?
    /// Per video: a class in 0..<K, or K for "no label"; nil when the model has no classes.
    public var labels: [Int]?

    public init(actions: UnsafePointer<Float>? = nil, labels: [Int]? = nil) {
        self.actions = actions
        self.labels = labels
    }

    /// An unconditioned batch.
    public static let none = Conditioning()
}

extension VideoTransformer {
    /// Checks a batch's conditioning against the config and keeps it: c_t for every (video, frame) and the
    /// labels. Only a model without conditioning may be run without it.
    func prepareConditioning(_ conditioning: Conditioning, batch: Int) {
        let frames = config.frames, width = config.actions
        if width > 0 {
            guard let actions = conditioning.actions else { preconditionFailure("an action-conditioned model needs the clips' actions") }
            let c = conditioningInput.frameActions!.pointer
            for b in 0..<batch {
                let clip = actions + b * frames * width, target = c + b * frames * width
                target.update(repeating: 0, count: width)                                        // c_0 = 0
                if frames > 1 { (target + width).update(from: clip, count: (frames - 1) * width) }  // c_t = a_{t−1}
            }
        }
        if config.classes > 0 {
            guard let labels = conditioning.labels, labels.count == batch else {
                preconditionFailure("a class-conditioned model needs one label per video")
            }
            precondition(labels.allSatisfy { (0...config.classes).contains($0) }, "labels must be in 0...\(config.classes)")
            batchLabels = labels
        }
    }

    /// term[b, t, :] = c_t·Wa + ba + class_embedding[label_b] for every video and frame of the batch.
    func makeConditioningTerms(_ offsets: ConditioningOffsets, into terms: FloatBuffer) {
        Self.conditioningTerms(offsets, parameters: parameters.pointer, frameActions: conditioningInput.frameActions?.pointer,
                               labels: batchLabels, videos: batch, frames: config.frames, actions: config.actions,
                               width: hiddenSize, into: terms.pointer)
    }

    /// The one definition of a conditioning term (training and the cached sampler both call it): per video b
    /// and frame t, term = ba + Σ_a c_t[a]·Wa[a] (a in order) + class_embedding[label_b], in that order.
    static func conditioningTerms(_ offsets: ConditioningOffsets, parameters: UnsafePointer<Float>,
                                  frameActions: UnsafePointer<Float>?, labels: [Int], videos: Int, frames: Int,
                                  actions: Int, width d: Int, into terms: UnsafeMutablePointer<Float>) {
        for b in 0..<videos {
            for t in 0..<frames {
                let term = terms + (b * frames + t) * d
                term.update(repeating: 0, count: d)
                if let weight = offsets.actionWeight, let bias = offsets.actionBias, let frameActions {
                    let c = frameActions + (b * frames + t) * actions, w = parameters + weight
                    term.update(from: parameters + bias, count: d)
                    for a in 0..<actions {
                        let row = w + a * d, value = c[a]
                        for x in 0..<d { term[x] += value * row[x] }
                    }
                }
                if let table = offsets.classEmbedding {
                    let row = parameters + table + labels[b] * d
                    for x in 0..<d { term[x] += row[x] }
                }
            }
        }
    }

    /// stream[b·N + p] += term[b, t(p)]: each position gets its frame's term.
    func addConditioning(_ stream: UnsafeMutablePointer<Float>, terms: FloatBuffer) {
        let d = hiddenSize, n = positions, frames = config.frames, grid = self.grid, st = config.subscale.t
        let origins = slices.map { subscaling.offset(ofSlice: $0).t }, terms = terms.pointer
        Parallel.rows(batch * n, grain: 256) { rows in
            for row in rows {
                let b = row / n, t = origins[b] + grid.coordinates(ofRasterIndex: row % n).t * st
                let target = stream + row * d, term = terms + (b * frames + t) * d
                for x in 0..<d { target[x] += term[x] }
            }
        }
    }

    /// Gradients of one stack's conditioning tensors from d(stream) [B·N, D] (the stack's input gradient).
    func conditioningBackward(_ dStream: UnsafePointer<Float>, _ offsets: ConditioningOffsets) {
        guard !offsets.isEmpty else { return }
        let d = hiddenSize, n = positions, frames = config.frames, grid = self.grid, st = config.subscale.t
        let sums = conditioningInput.termGradients.pointer
        sums.update(repeating: 0, count: batch * frames * d)
        for b in 0..<batch {   // S[b, t] = Σ over the video's positions of frame t, in raster order
            let origin = subscaling.offset(ofSlice: slices[b]).t
            for position in 0..<n {
                let t = origin + grid.coordinates(ofRasterIndex: position).t * st
                let target = sums + (b * frames + t) * d, source = dStream + (b * n + position) * d
                for x in 0..<d { target[x] += source[x] }
            }
        }
        for b in 0..<batch {
            for t in 0..<frames {
                let s = sums + (b * frames + t) * d
                if let weight = offsets.actionWeight, let bias = offsets.actionBias, let frameActions = conditioningInput.frameActions {
                    let c = frameActions.pointer + (b * frames + t) * config.actions
                    let dBias = gradient(bias), dWeight = gradient(weight)
                    for x in 0..<d { dBias[x] += s[x] }
                    for a in 0..<config.actions {
                        let row = dWeight + a * d, value = c[a]
                        for x in 0..<d { row[x] += value * s[x] }
                    }
                }
                if let table = offsets.classEmbedding {
                    let row = gradient(table) + batchLabels[b] * d
                    for x in 0..<d { row[x] += s[x] }
                }
            }
        }
    }
}
