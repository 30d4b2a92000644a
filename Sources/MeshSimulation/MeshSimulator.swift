// MeshSimulator: predicts how a config would train on a mesh of TPU-v3-like chips (docs/design.md §4,
// "Simulated TPU mesh") — per-step compute time, each collective's time by the α-β model, memory per chip
// with a fits / does-not-fit verdict, and the scaling efficiency against one chip. Pure arithmetic over the
// config (ModelCost: FLOPCount, ModelParameters, the activation account): no MPI, no allocation of the
// model, so it is tested under `swift test`. It follows the memory features of docs/design.md §8–§9 as settings:
// `precision` (fp32 | bf16), `recompute` (none | layer), `shardOptimizer` (ZeRO-1 over the data axis) and
// `attentionMemory` (flash-style softmax statistics | stored probabilities); `vt mesh simulate` takes the
// first three from the config unless --precision, --recompute, --shard-optimizer say otherwise.
//
// The cost model, per optimizer step of a `data × model` layout (Megatron / Mesh-TensorFlow: batch→data,
// heads→model, d_ff→model):
//   compute      (per-chip batch) × (a × sharded forward FLOPs / M + 3 × replicated forward FLOPs) / (peak · MFU),
//                 a = 3, or 4 with recompute: layer (each attention layer's forward runs again just before its
//                 backward). Sharded = the attention layers' projections, scores, weighted sums and FFN, all
//                 ∝ heads or d_ff; replicated = encoder input projection, shift convolution, conditioning, head.
//                 FLOPs by docs/design.md §7, masked entries of the decoder's causal blocks included: a flash-style
//                 kernel skips that upper triangle, which is reported apart (causal_skipped_flops_per_chip)
//                 and not taken off the compute time (MFU is defined on §7's count; the skip shows up as a
//                 higher achievable MFU, not as fewer FLOPs).
//   gradients    over the data axis, of the gradient bytes n a chip holds (n/M of the whole when every
//                 tensor is sharded; replicated tensors count in full): one all-reduce, or with ZeRO-1 a
//                 reduce-scatter ((D−1)α + (D−1)/D·nβ on a ring, half the all-reduce) plus, after the
//                 optimizer step, an all-gather of the updated parameters (same formula, on the parameter bytes)
//   activations  over the model axis: 2 all-reduces per layer forward (after the attention output and after
//                 the FFN) and 2 in backward, each micro-batch × positions × d × bytes; with recompute: layer
//                 the re-run forward repeats its 2 (6 per layer)
//   step         compute + exposed gradient collective + parameter all-gather + activation all-reduces. As in
//                 the trainer, gradient buckets are reduced while backward runs (compute − one forward: 2/3 of
//                 compute without recomputation): exposed = max(the last bucket's collective, collective −
//                 backward); `overlapGradients = false` exposes it all. The all-gather cannot start before the
//                 optimizer step nor overlap the next forward, which needs it: it is exposed whole.
// α-β formulas (p ranks, n bytes): all-reduce on a ring 2(p−1)α + 2(p−1)/p·nβ, on a 2-D torus X×Y
// 2(X+Y−2)α + 2(p−1)/p·nβ; data×model 2(D−1)α + 2(D−1)/D·(n/M)β; reduce-scatter and all-gather half of
// each: (p−1)α + (p−1)/p·nβ and (X+Y−2)α + (p−1)/p·nβ.
//
// Memory per chip (P = parameters a chip holds = replicated + sharded/M; D = data axis):
//   parameters   4·P fp32 — the weights forward reads and the optimizer updates; with ZeRO-1 and a bf16
//                 all-gather 4·P/D (the fp32 master of the chip's own 1/D only)
//   bf16 weights 2·P with precision bf16 (the copy products read, docs/design.md §8), 0 in fp32
//   gradients    gradientBytes·P (fp32 in both precisions; whole on every chip under ZeRO stage 1)
//   optimizer    2 slots × 4·P, / D with ZeRO-1
//   activations  ModelCost.activationBytes of one micro-batch (ModelCost+ActivationMemory.swift, the one
//                 place the simulator sizes activations: precision, recompute and attention memory there)
// The ZeRO-1 all-gather carries fp32 parameters by default (4·P bytes): what docs/design.md §9's trainer does — it
// all-gathers the flat fp32 parameter buffer, which every rank keeps whole because LayerNorms, biases and
// the bf16 copy are made from it. `allGatherPrecision = .bf16` (--gather-precision bf16, bf16 runs only) models
// the ZeRO paper's layout instead: bf16 weights on the wire (2·P bytes) and fp32 master weights / D; the fp32
// tensors read outside products (embeddings, LayerNorms, biases) that would still need an fp32 copy are
// neglected there.
//
// Placement on the X×Y torus: the model axis takes a contiguous Mx×My sub-torus (My = gcd(M, Y),
// Mx = M/My) and the data axis the complementary Dx×Dy = (X/Mx)×(Y/My) grid; each group's collective
// uses the ring formula when its grid is 1-D and the 2-D torus formula when it is 2-D. β comes from the
// links the group can drive: a 1-D ring on a torus axis uses the 2 links of that axis (one each way),
// a 2-D group all 4 (the published pod all-reduce bandwidth, 340 TB/s / 1024 chips = 332 GB/s per chip,
// matches 4 × 82 GB/s). Groups are assumed not to contend for links (exact when M is 1, Y or X·Y).
//
// Left out: overlap of activation all-reduces or the all-gather with compute, a smarter recomputation that
// skips the FFN's second product, input pipeline, HBM bandwidth limits on element-wise work (MFU absorbs
// them), fp32 products' lower rate on a bf16 chip (MFU absorbs it), allocator fragmentation and the
// runtime's own memory, multi-pod networks.

import Foundation
import Kernels
import VideoModel

// MARK: - The simulator

/// The collectives the simulator costs.
public enum Collective: Sendable {
    case allReduce, reduceScatter, allGather
}

public struct MeshSimulator: Sendable {
    public let cost: ModelCost
    public let settings: SimulationSettings

    public init(config: ModelConfig, settings: SimulationSettings) throws {
        guard settings.mfu > 0 else { throw MeshSimulationError("MFU must be positive (got \(settings.mfu))") }
        guard settings.globalBatch >= 1, settings.accumulationSteps >= 1 else {
            throw MeshSimulationError("the global batch and accumulation steps must be at least 1")
        }
        guard !settings.alphas.isEmpty, settings.alphas.allSatisfy({ $0 >= 0 }) else {
            throw MeshSimulationError("α values must be given and be ≥ 0")
        }
        if settings.allGatherPrecision == .bf16 && !(settings.shardOptimizer && settings.precision == .bf16) {
            throw MeshSimulationError("a bf16 parameter all-gather (--gather-precision bf16) needs --shard-optimizer and bf16 precision (--precision bf16)")
        }
        cost = ModelCost(config: config)
        self.settings = settings
    }

    /// One chip's compute-only step time for the whole global batch (with the same recomputation): the
    /// scaling-efficiency reference.
    public var singleChipSeconds: Double {
        cost.trainingFlopsPerChip(videos: settings.globalBatch, model: 1, recompute: settings.recompute)
            / (settings.chip.peakFlops * settings.mfu)
    }

    /// Why `layout` cannot run this config (nil when it can): sizes the model axis or the batch cannot split.
    public func illegality(_ layout: MeshLayout) -> String? {
        Self.illegality(layout, config: cost.config, globalBatch: settings.globalBatch, accumulationSteps: settings.accumulationSteps)
    }

    /// Why `layout` cannot run `config` with this batch (nil when it can).
    public static func illegality(_ layout: MeshLayout, config: ModelConfig, globalBatch batch: Int, accumulationSteps accumulation: Int) -> String? {
        if config.heads % layout.model != 0 { return "model=\(layout.model) does not divide heads=\(config.heads)" }
        if config.ffnSize % layout.model != 0 { return "model=\(layout.model) does not divide ffn_size=\(config.ffnSize)" }
        if batch % (layout.data * accumulation) != 0 {
            return "global batch \(batch) is not divisible by data=\(layout.data) × accumulation_steps=\(accumulation)"
        }
        return nil
    }

    /// Time of one all-reduce of `bytes` over a group occupying a `grid` of chips.
    public func allReduceSeconds(bytes: Double, grid: (x: Int, y: Int), alpha: Double) -> Double {
        collectiveSeconds(.allReduce, bytes: bytes, grid: grid, alpha: alpha)
    }

    /// Time of one collective over a group occupying a `grid` of chips; `bytes` is what each chip holds
    /// before a reduce-scatter or after an all-gather (the whole buffer, as for an all-reduce).
    public func collectiveSeconds(_ collective: Collective, bytes: Double, grid: (x: Int, y: Int), alpha: Double) -> Double {
        let ranks = grid.x * grid.y
        func ring(_ alpha: Double, _ beta: Double) -> Double {
            collective == .allReduce ? AllReduceCost.ring(ranks: ranks, bytes: bytes, alpha: alpha, beta: beta)
                : ReduceScatterCost.ring(ranks: ranks, bytes: bytes, alpha: alpha, beta: beta)
        }
        switch settings.chip.interconnect {
        case .flat(let link):
            let fit = link.fit(forBytes: bytes)
            return ring(fit.alpha, fit.beta)
        case .torus(let linkBandwidth, _):
            if grid.x == 1 || grid.y == 1 {
                // A ring along one torus axis: the 2 links of that axis (one each way).
                return ring(alpha, 1 / (2 * linkBandwidth))
            }
            let beta = 1 / (4 * linkBandwidth)
            return collective == .allReduce ? AllReduceCost.torus(x: grid.x, y: grid.y, bytes: bytes, alpha: alpha, beta: beta)
                : ReduceScatterCost.torus(x: grid.x, y: grid.y, bytes: bytes, alpha: alpha, beta: beta)
        }
    }

    /// Bytes one chip holds for `layout`: fp32 (master) parameters, the bf16 copy, gradients, optimizer
    /// slots and one micro-batch's activations.
    public func memory(_ layout: MeshLayout, microBatch: Int) -> MemoryEstimate {
        let parameters = Double(cost.parametersPerChip(model: layout.model))
        let optimizerShards = Double(settings.shardOptimizer ? layout.data : 1)
        let masterShards = settings.shardOptimizer && settings.allGatherPrecision == .bf16 ? optimizerShards : 1
        return MemoryEstimate(
            parameters: parameters * Double(settings.parameterBytes) / masterShards,
            lowPrecisionWeights: settings.precision == .bf16 ? parameters * 2 : 0,
            gradients: parameters * Double(settings.gradientBytes),
            optimizer: parameters * Double(settings.parameterBytes * settings.optimizerSlots) / optimizerShards,
            activations: cost.activationBytes(microBatch: microBatch, model: layout.model, precision: settings.precision,
                                              recompute: settings.recompute, attention: settings.attentionMemory),
            capacity: settings.chip.memoryBytes)
    }

    /// The prediction for one placed layout (throws when the layout is illegal for the config).
    public func predict(_ placement: Placement) throws -> LayoutPrediction {
        let layout = placement.layout
        if let reason = illegality(layout) { throw MeshSimulationError("\(layout) on \(placement.torus): \(reason)") }
        let chip = settings.chip, rate = chip.peakFlops * settings.mfu
        let videos = settings.globalBatch / layout.data
        let microBatch = videos / settings.accumulationSteps
        let flops = cost.trainingFlopsPerChip(videos: videos, model: layout.model, recompute: settings.recompute)
        let compute = flops / rate
        // Backward (recomputed forwards included) is all but one forward of the step.
        let backward = compute - cost.forwardFlopsPerChip(videos: videos, model: layout.model) / rate
        let parameters = Double(cost.parametersPerChip(model: layout.model))
        let gradientBytes = parameters * Double(settings.gradientBytes)
        let gradientCollective: GradientCollective = settings.shardOptimizer ? .reduceScatter : .allReduce
        let gatherBytes = settings.shardOptimizer
            ? parameters * Double(settings.allGatherPrecision == .bf16 ? 2 : settings.parameterBytes) : 0
        let activationBytes = Double(microBatch * cost.config.positionsPerSlice * cost.config.hiddenSize * settings.activationBytes)
        // 2 all-reduces per layer in forward, 2 in backward, and 2 more when backward re-runs the forward.
        let perLayer = settings.recompute == .layer ? 6 : 4
        let activationCount = layout.model > 1
            ? perLayer * (cost.config.encoderLayers + cost.config.decoderLayers) * settings.accumulationSteps : 0
        let memory = memory(layout, microBatch: microBatch)
        let alphas: [Double]
        if case .flat(let link) = chip.interconnect { alphas = [link.global.alpha] } else { alphas = settings.alphas }
        let reference = singleChipSeconds
        let gradientKind: Collective = settings.shardOptimizer ? .reduceScatter : .allReduce
        let byAlpha = alphas.map { alpha -> AlphaPrediction in
            let gradient = collectiveSeconds(gradientKind, bytes: gradientBytes, grid: placement.dataGrid, alpha: alpha)
            let lastBucket = collectiveSeconds(gradientKind, bytes: min(settings.bucketBytes, gradientBytes), grid: placement.dataGrid, alpha: alpha)
            let exposed = settings.overlapGradients ? min(gradient, max(lastBucket, gradient - backward)) : gradient
            let gather = settings.shardOptimizer ? collectiveSeconds(.allGather, bytes: gatherBytes, grid: placement.dataGrid, alpha: alpha) : 0
            let activations = Double(activationCount) * allReduceSeconds(bytes: activationBytes, grid: placement.modelGrid, alpha: alpha)
            let step = compute + exposed + gather + activations
            return AlphaPrediction(alphaMicroseconds: alpha * 1e6, gradientAllReduceSeconds: gradient,
                                   gradientExposedSeconds: exposed, parameterAllGatherSeconds: gather,
                                   activationAllReduceSeconds: activations,
                                   stepSeconds: step, stepSecondsWithoutOverlap: compute + gradient + gather + activations,
                                   scalingEfficiency: reference / (Double(layout.chips) * step))
        }
        return LayoutPrediction(mesh: placement.torus.description, data: layout.data, model: layout.model,
                                dataGrid: [placement.dataGrid.x, placement.dataGrid.y],
                                modelGrid: [placement.modelGrid.x, placement.modelGrid.y],
                                videosPerChip: videos, microBatch: microBatch, trainingFlopsPerChip: flops,
                                causalSkippedFlopsPerChip: cost.causalSkippedFlopsPerChip(videos: videos, model: layout.model,
                                                                                          recompute: settings.recompute),
                                computeSeconds: compute, gradientCollective: gradientCollective,
                                gradientAllReduceBytes: gradientBytes, parameterAllGatherBytes: gatherBytes,
                                activationAllReduceBytes: activationBytes, activationAllReduceCount: activationCount,
                                activationsPerVideo: memory.activations / Double(microBatch),
                                memory: memory, alphas: byAlpha)
    }

    /// Predicts every layout of `layouts` (or, when empty, every factorisation) on every torus of `meshes`.
    /// A layout given explicitly must match some mesh's chip count (else it throws); illegal ones are returned
    /// as rejected with the reason.
    public func sweep(meshes: [TorusShape], layouts: [MeshLayout] = []) throws
        -> (predictions: [LayoutPrediction], rejected: [RejectedLayout]) {
        for torus in meshes where torus.chips > settings.chip.chipsPerPod {
            throw MeshSimulationError("--mesh \(torus) has \(torus.chips) chips; one \(settings.chip.name) pod has \(settings.chip.chipsPerPod) (multi-pod networks are not modelled)")
        }
        for layout in layouts where !meshes.contains(where: { $0.chips == layout.chips }) {
            let chips = meshes.map { "\($0) = \($0.chips)" }.joined(separator: ", ")
            throw MeshSimulationError("--layout \(layout) has \(layout.data) × \(layout.model) = \(layout.chips) chips but --mesh has \(chips); the product of the layout must equal the chip count")
        }
        var predictions: [LayoutPrediction] = [], rejected: [RejectedLayout] = []
        for torus in meshes {
            let candidates = layouts.isEmpty ? MeshLayout.factorisations(of: torus.chips) : layouts.filter { $0.chips == torus.chips }
            for layout in candidates {
                if let reason = illegality(layout) {
                    rejected.append(RejectedLayout(mesh: torus.description, layout: layout.description, reason: reason))
                    continue
                }
                do {
                    predictions.append(try predict(Placement(layout: layout, on: torus)))
                } catch let error as MeshSimulationError {
                    rejected.append(RejectedLayout(mesh: torus.description, layout: layout.description, reason: error.message))
                }
            }
        }
        return (predictions, rejected)
    }

    /// Published, assumed and derived figures behind the predictions, for the output.
    public var figures: [Figure] {
        var figures = settings.chip.figures
        let mfuSource = settings.mfuProvenance == .measured ? "this machine's bench step / sgemm peak" : "--mfu (not published for this model)"
        figures.append(Figure("achievable MFU", String(format: "%.2f", settings.mfu), settings.mfuProvenance,
                              mfuSource + (settings.recompute == .layer ? "; applied to the FLOPs run, recomputed forwards included" : "")))
        switch settings.chip.interconnect {
        case .torus(let linkBandwidth, let links):
            let alphas = settings.alphas.map { String(format: "%g", $0 * 1e6) }.joined(separator: ", ")
            figures.append(Figure("α (per hop)", "\(alphas) µs", .assumed, "not published; swept (--alpha-us)"))
            figures.append(Figure("β, 1-D ring on a torus axis", String(format: "1/(2 × %.0f GB/s) = 1/%.0f GB/s", linkBandwidth / 1e9, 2 * linkBandwidth / 1e9),
                                  .derived, "the 2 links of that axis, one each way"))
            figures.append(Figure("β, 2-D torus group", String(format: "1/(%d × %.0f GB/s) = 1/%.0f GB/s", links, linkBandwidth / 1e9, Double(links) * linkBandwidth / 1e9),
                                  .derived, settings.chip.podAllReduceBandwidth.map {
                                      String(format: "all %d links; cf. %.0f TB/s / %d chips = %.0f GB/s per chip", links, $0 / 1e12,
                                             settings.chip.chipsPerPod, $0 / Double(settings.chip.chipsPerPod) / 1e9)
                                  } ?? "all links"))
        case .flat(let link):
            figures.append(Figure("α", String(format: "%.2f µs", link.global.alpha * 1e6), .measured, "fit of MPI_Allreduce times, ring formula"))
            figures.append(Figure("β", String(format: "1/%.2f GB/s", 1 / link.global.beta / 1e9), .measured, "fit of MPI_Allreduce times, ring formula"))
        }
        figures.append(Figure("precision", settings.precision == .bf16
                                ? "bf16 product inputs (2 B), bf16 weight copy (2 B/param); fp32 master weights, gradients, slots"
                                : "fp32 everywhere (4 B a value)",
                              .assumed, "--precision (default: the config's training.precision; docs/design.md §8)"))
        figures.append(Figure("recompute", settings.recompute == .layer
                                ? "layer: 4 × the layers' forward FLOPs + 3 × the rest; one layer's activations kept"
                                : "none: 3 × forward FLOPs; every layer's activations kept",
                              .assumed, "--recompute (default: the config's training.recompute; docs/design.md §9)"))
        figures.append(Figure("optimizer state", settings.shardOptimizer
                                ? "ZeRO-1 over data: slots / D\(settings.allGatherPrecision == .bf16 ? " and fp32 master / D" : "");"
                                  + " gradients reduce-scattered (full on each chip), parameters all-gathered in \(settings.allGatherPrecision) after the step"
                                : "replicated on the data axis; gradients all-reduced",
                              .assumed, "--shard-optimizer, --gather-precision (default: the config's distribution.shard_optimizer)"))
        figures.append(Figure("attention memory", settings.attentionMemory == .statistics
                                ? "softmax statistics, 2 floats per row and head (flash-style)"
                                : "block probabilities, heads × Nb² per block (the stored-probability kernel)",
                              .assumed, "--attention-memory"))
        figures.append(Figure("causal blocks", "masked upper triangle counted (docs/design.md §7), skipped by the kernel",
                              .assumed, "reported as causal_skipped_flops; the compute time keeps §7's count"))
        figures.append(Figure("gradient bytes / value", "\(settings.gradientBytes)", .assumed, "--gradient-bytes (4 fp32, 2 bf16)"))
        figures.append(Figure("activation all-reduce bytes / value", "\(settings.activationBytes)", .assumed,
                              "--activation-bytes (4 = the trainer's fp32 model-axis sums, 2 = bf16); stored activations follow --precision"))
        figures.append(Figure("parameter and optimizer-slot bytes", "\(settings.parameterBytes) × (1 + \(settings.optimizerSlots) slots)",
                              .assumed, "fp32 master weights, RMSProp/Adam 2 slots"))
        let collective = settings.shardOptimizer ? "reduce-scatter" : "all-reduce"
        figures.append(settings.overlapGradients
            ? Figure("overlap", String(format: "gradient buckets of %.0f MB during backward (%@)", settings.bucketBytes / 1e6,
                                       settings.recompute == .layer ? "compute − one forward" : "2/3 of compute"),
                     .assumed, "as the trainer does; exposed = max(last bucket, \(collective) − backward); --no-overlap")
            : Figure("overlap", "none: the gradient \(collective) follows backward", .assumed, "--no-overlap"))
        if settings.shardOptimizer {
            figures.append(Figure("parameter all-gather", "after the optimizer step, not overlapped", .assumed,
                                  "the next forward needs every parameter"))
        }
        figures.append(Figure("activation all-reduces", "not overlapped with compute", .assumed, "Megatron layout: they sit on the critical path"))
        return figures
    }
}
