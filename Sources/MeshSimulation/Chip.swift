// Chip: what the simulator knows of a chip and its links — the chip's peak FLOP rate, memory and interconnect
// (ChipSpec: a TPU-v3-like pod, or this machine measured by the calibration), α-β link fits, the α-β formulas
// of all-reduce and reduce-scatter (docs/design.md §4), and the provenance of every figure it reports
// (published, assumed or measured). Leaves out: meshes (MeshLayout.swift) and the step's cost (MeshSimulator).

import Foundation
import Kernels
import VideoModel

// MARK: - Errors

public struct MeshSimulationError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Provenance of every figure

/// Where a number comes from; the output keeps published and assumed figures apart.
public enum Provenance: String, Codable, Sendable {
    case published, assumed, derived, measured
}

/// One labelled figure of a chip or of the simulation, as printed and as JSON.
public struct Figure: Codable, Equatable, Sendable {
    public var name: String
    public var value: String
    public var provenance: Provenance
    public var source: String

    public init(_ name: String, _ value: String, _ provenance: Provenance, _ source: String) {
        self.name = name; self.value = value; self.provenance = provenance; self.source = source
    }
}

// MARK: - Chips

/// How collectives on a chip's network are costed.
public enum Interconnect: Equatable, Sendable {
    /// A 2-D torus of point-to-point links: β of a group follows from the links it drives.
    case torus(linkBandwidth: Double, linksPerChip: Int)
    /// A flat network with fitted (α, β) (this machine's shared-memory MPI): every group uses the ring formula.
    case flat(LinkModel)
}

/// t = a + b·n fitted to all-reduce times over a range of sizes, and the α, β of the ring formula it implies.
public struct LinkFit: Codable, Equatable, Sendable {
    public var ranks: Int
    /// The sizes (bytes) the fit covers.
    public var minBytes: Double
    public var maxBytes: Double
    /// Seconds and seconds per byte of t = a + b·n.
    public var intercept: Double
    public var slope: Double
    /// α (s) and β (s/byte) of 2(p−1)α + 2(p−1)/p·nβ.
    public var alpha: Double
    public var beta: Double
    /// Largest |t − fit| / t over the points.
    public var maxRelativeResidual: Double

    public init(ranks: Int, minBytes: Double = 0, maxBytes: Double = .greatestFiniteMagnitude, intercept: Double, slope: Double,
                alpha: Double, beta: Double, maxRelativeResidual: Double) {
        self.ranks = ranks; self.minBytes = minBytes; self.maxBytes = maxBytes; self.intercept = intercept
        self.slope = slope; self.alpha = alpha; self.beta = beta; self.maxRelativeResidual = maxRelativeResidual
    }
}

/// Measured α-β: one fit over every size, and fits over consecutive size ranges. Shared-memory all-reduce is
/// not one straight line (bandwidth falls several-fold once messages leave the caches), so a message of n
/// bytes is costed with the piece whose range holds n (the nearest piece outside them).
public struct LinkModel: Codable, Equatable, Sendable {
    public var global: LinkFit
    public var pieces: [LinkFit]

    public init(global: LinkFit, pieces: [LinkFit] = []) { self.global = global; self.pieces = pieces }

    /// One (α, β) for every size.
    public static func single(alpha: Double, beta: Double, ranks: Int = 2) -> LinkModel {
        LinkModel(global: LinkFit(ranks: ranks, intercept: 0, slope: 0, alpha: alpha, beta: beta, maxRelativeResidual: 0))
    }

    public func fit(forBytes n: Double) -> LinkFit {
        guard let first = pieces.first, let last = pieces.last else { return global }
        if n <= first.minBytes { return first }
        if n >= last.maxBytes { return last }
        return pieces.first { n >= $0.minBytes && n <= $0.maxBytes } ?? global
    }
}

public struct ChipSpec: Equatable, Sendable {
    public var name: String
    /// Peak matrix-multiply rate, FLOP/s.
    public var peakFlops: Double
    /// Memory per chip (HBM), bytes.
    public var memoryBytes: Double
    /// Memory bandwidth, bytes/s (reported; the MFU assumption absorbs memory-bound work).
    public var memoryBandwidth: Double
    public var interconnect: Interconnect
    /// Largest torus of one pod (chips); larger meshes are refused.
    public var chipsPerPod: Int
    /// Published pod all-reduce bandwidth (bytes/s), used as a cross-check of the link figures.
    public var podAllReduceBandwidth: Double?
    public var figures: [Figure]

    static let cloudTPUv3 = "Cloud TPU v3 docs (cloud.google.com/tpu/docs/v3)"
    static let jouppi2020 = "Jouppi et al., A Domain-Specific Supercomputer for Training DNNs, CACM 2020"

    /// TPU v3: 123 bf16 TFLOP/s, 32 GiB HBM at 900 GB/s, 1024 chips on a 2-D torus with 340 TB/s pod
    /// all-reduce bandwidth (Cloud TPU v3 documentation); 4 ICI links of 656 Gbit/s ≈ 82 GB/s (Jouppi et al.).
    public static let tpuV3 = ChipSpec(
        name: "tpu-v3", peakFlops: 123e12, memoryBytes: 32 * 1073741824, memoryBandwidth: 900e9,
        interconnect: .torus(linkBandwidth: 82e9, linksPerChip: 4), chipsPerPod: 1024, podAllReduceBandwidth: 340e12,
        figures: [
            Figure("peak compute", "123 TFLOP/s bf16 per chip (2 TensorCores)", .published, cloudTPUv3),
            Figure("HBM", "32 GiB at 900 GB/s per chip", .published, cloudTPUv3),
            Figure("pod", "1024 chips, 2-D torus, 340 TB/s all-reduce", .published, cloudTPUv3),
            Figure("ICI links", "4 per chip, ≈82 GB/s each (656 Gbit/s)", .published, jouppi2020),
            Figure("link direction", "82 GB/s taken per direction (full duplex)", .assumed,
                   "consistent with 340 TB/s / 1024 = 332 GB/s ≈ 4 × 82 GB/s per chip"),
        ])

    public static let known = ["tpu-v3": tpuV3]

    public static func named(_ name: String) throws -> ChipSpec {
        guard let chip = known[name.lowercased()] else {
            throw MeshSimulationError("unknown chip '\(name)'; known chips: \(known.keys.sorted().joined(separator: ", "))")
        }
        return chip
    }
}

// MARK: - α-β all-reduce formulas (docs/design.md §4)

public enum AllReduceCost {
    /// Ring over p ranks: 2(p−1)α + 2(p−1)/p·nβ (seconds; α in s, β in s/byte, n in bytes).
    public static func ring(ranks p: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        guard p > 1 else { return 0 }
        return 2 * Double(p - 1) * alpha + 2 * Double(p - 1) / Double(p) * n * beta
    }

    /// 2-D torus X×Y (reduce-scatter along one axis, all-reduce along the other, all-gather back):
    /// 2(X+Y−2)α + 2(p−1)/p·nβ with p = X·Y.
    public static func torus(x: Int, y: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        let p = x * y
        guard p > 1 else { return 0 }
        return 2 * Double(x + y - 2) * alpha + 2 * Double(p - 1) / Double(p) * n * beta
    }

    /// The data-axis gradient all-reduce of a data × model mesh, each chip holding n/M of the gradients:
    /// 2(D−1)α + 2(D−1)/D·(n/M)β.
    public static func dataModel(data d: Int, model m: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        ring(ranks: d, bytes: n / Double(m), alpha: alpha, beta: beta)
    }
}

/// Reduce-scatter (each of p ranks ends with the sum of its 1/p of n bytes) — and all-gather, its mirror,
/// which costs the same: half an all-reduce (an all-reduce is a reduce-scatter then an all-gather).
public enum ReduceScatterCost {
    /// Ring over p ranks: (p−1)α + (p−1)/p·nβ.
    public static func ring(ranks p: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        guard p > 1 else { return 0 }
        return Double(p - 1) * alpha + Double(p - 1) / Double(p) * n * beta
    }

    /// 2-D torus X×Y (along one axis, then the other): (X+Y−2)α + (p−1)/p·nβ with p = X·Y.
    public static func torus(x: Int, y: Int, bytes n: Double, alpha: Double, beta: Double) -> Double {
        let p = x * y
        guard p > 1 else { return 0 }
        return Double(x + y - 2) * alpha + Double(p - 1) / Double(p) * n * beta
    }
}
