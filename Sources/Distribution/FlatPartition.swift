// FlatPartition: a flat buffer of `count` floats cut into `parts` contiguous ranges, range r for rank r
// of the data axis — the slices of ZeRO stage 1 (docs/design.md §9): rank r reduces, clips and updates
// parameters r and keeps optimizer slots r only.
//
// The cut is a pure function of (count, parts, chunks), so every rank and every run computes the same one:
//   - when `parts` divides `chunks`, each range is a union of whole chunks of the fixed partition
//     `Parallel.range(of:pieces: chunks, count: count)` (the one the global gradient norm sums over), so
//     a rank can compute those chunks' partial sums exactly as the unsharded run does;
//   - otherwise it is balanced on 16-float units (ParameterTable's alignment): sizes differ by ≤ 16 floats.
// Tensors may straddle two ranges; every consumer works with pieces (`counts(of:)`).
// Left out: cuts at tensor boundaries, weighting ranges by anything but their float count.
import Kernels

public struct FlatPartition: Equatable, Sendable, CustomStringConvertible {
    /// Floats in the whole buffer.
    public let count: Int
    /// `parts + 1` increasing offsets from 0 to `count`: range r is `bounds[r] ..< bounds[r + 1]`.
    public let bounds: [Int]
    public var parts: Int { bounds.count - 1 }

    /// Units of the balanced cut (the parameter table aligns tensors to 16 floats).
    public static let alignment = 16

    /// `chunks` (≥ 1): the fixed chunk count to align to when `parts` divides it (0: never align).
    public init(count: Int, parts: Int, chunks: Int = 0) throws {
        guard count >= 0, parts >= 1 else {
            throw DistributedError.invalidArgument("cannot cut \(count) floats into \(parts) parts")
        }
        self.count = count
        if chunks >= parts && chunks % parts == 0 {
            let perPart = chunks / parts
            bounds = (0...parts).map { part in
                part == parts ? count : Parallel.range(of: part * perPart, pieces: chunks, count: count).lowerBound
            }
        } else {
            let units = (count + Self.alignment - 1) / Self.alignment
            bounds = (0...parts).map { part in min(count, units * part / parts * Self.alignment) }
        }
    }

    /// The floats rank `part` owns.
    public func range(_ part: Int) -> Range<Int> { bounds[part]..<bounds[part + 1] }

    /// How many floats of `span` each part owns, in part order (they add up to `span.count`): the
    /// segments of a reduce-scatter or gather over `span`.
    public func counts(of span: Range<Int>) -> [Int] {
        (0..<parts).map { part in
            let range = self.range(part)
            return max(0, min(range.upperBound, span.upperBound) - max(range.lowerBound, span.lowerBound))
        }
    }

    /// The part of `span` that `part` owns (possibly empty, placed at `span`'s start then).
    public func overlap(of span: Range<Int>, part: Int) -> Range<Int> {
        let range = self.range(part)
        let lower = min(max(range.lowerBound, span.lowerBound), span.upperBound)
        return lower..<max(lower, min(range.upperBound, span.upperBound))
    }

    public var description: String {
        "\(count) floats in \(parts) parts of " + (0..<parts).map { "\(range($0).count)" }.joined(separator: "/")
    }
}
