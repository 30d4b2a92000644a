// PrecisionCheck: before any bf16 work, make sure oneDNN can build a bf16 product here and say — in one
// line — when the CPU has no native bf16 (docs/design.md §8), so a slow emulated path is never silent.

import Kernels
import OneDNN

public enum PrecisionCheck {
    /// For bf16: builds one small product (a oneDNN failure becomes an error naming the call) and returns the
    /// line to print: the ISA and implementation oneDNN chose, or the emulation warning. fp32: nil.
    public static func prepare(_ precision: Precision) throws -> String? {
        guard precision == .bf16 else { return nil }
        let implementation: String
        do {
            implementation = try OneDNN.implementation(of: MatmulShape(m: 64, n: 64, k: 64, transA: false, transB: false,
                                                                       lda: 64, ldb: 64, ldc: 64, alpha: 1, accumulate: false))
        } catch {
            throw TrainingError("precision bf16: \(error) — use --precision fp32")
        }
        return OneDNN.emulationWarning
            ?? "precision bf16: oneDNN \(OneDNN.version), ISA \(OneDNN.isa), products on \(implementation)"
    }
}
