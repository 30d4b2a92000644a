// MeshLayout: the shapes a simulated job takes — the chips' 2-D torus (TorusShape), the data × model
// factorisation of the job (MeshLayout) and where each axis sits on the torus (Placement: the model axis a
// contiguous sub-torus, the data axis the complementary grid). Leaves out: costs (MeshSimulator).

import Foundation
import Kernels
import VideoModel

// MARK: - Meshes and layouts

/// The physical X×Y torus of chips, written `XxY`.
public struct TorusShape: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
    public var chips: Int { x * y }
    public var description: String { "\(x)x\(y)" }

    /// Parses `8x8` (also `8×8`, `8X8`).
    public static func parse(_ text: String) throws -> TorusShape {
        let parts = text.trimmingCharacters(in: .whitespaces).lowercased()
            .replacingOccurrences(of: "×", with: "x").split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let x = Int(parts[0]), let y = Int(parts[1]) else {
            throw MeshSimulationError("--mesh '\(text)' is not XxY (expected e.g. 8x8: the chips of a 2-D torus)")
        }
        guard x >= 1, y >= 1 else { throw MeshSimulationError("--mesh '\(text)': both sizes must be at least 1") }
        return TorusShape(x: x, y: y)
    }

    /// Parses a comma-separated list, `4x4,8x8,32x32`.
    public static func parseList(_ text: String) throws -> [TorusShape] {
        let shapes = try text.split(separator: ",").map { try parse(String($0)) }
        guard !shapes.isEmpty else { throw MeshSimulationError("--mesh is empty (expected e.g. 8x8 or 4x4,8x8)") }
        return shapes
    }
}

/// The logical `data × model` layout of a mesh.
public struct MeshLayout: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var data: Int, model: Int
    public init(data: Int, model: Int) { self.data = data; self.model = model }
    public var chips: Int { data * model }
    public var description: String { "data=\(data),model=\(model)" }

    /// Parses `data=D,model=M` (either order; an omitted axis has size 1).
    public static func parse(_ text: String) throws -> MeshLayout {
        var sizes: [String: Int] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["data", "model"].contains(parts[0]) else {
                throw MeshSimulationError("--layout '\(text)': '\(item)' is not data=N or model=N (expected e.g. data=8,model=4)")
            }
            guard sizes[parts[0]] == nil else { throw MeshSimulationError("--layout '\(text)': axis '\(parts[0])' is given twice") }
            guard let size = Int(parts[1]), size >= 1 else {
                throw MeshSimulationError("--layout '\(text)': axis '\(parts[0])' has size '\(parts[1])'; sizes are integers ≥ 1")
            }
            sizes[parts[0]] = size
        }
        return MeshLayout(data: sizes["data"] ?? 1, model: sizes["model"] ?? 1)
    }

    /// Parses `text` and checks that it uses every chip of `torus`.
    public static func parse(_ text: String, on torus: TorusShape) throws -> MeshLayout {
        let layout = try parse(text)
        guard layout.chips == torus.chips else {
            throw MeshSimulationError("--layout \(layout) has \(layout.data) × \(layout.model) = \(layout.chips) chips but --mesh \(torus) has \(torus.x) × \(torus.y) = \(torus.chips); the product of the layout must equal the chip count")
        }
        return layout
    }

    /// Every data × model factorisation of `chips`, data-parallel first.
    public static func factorisations(of chips: Int) -> [MeshLayout] {
        (1...max(1, chips)).filter { chips % $0 == 0 }.map { MeshLayout(data: chips / $0, model: $0) }
    }
}

/// A layout placed on a torus: the sub-grids its model and data groups occupy.
public struct Placement: Equatable, Sendable {
    public var torus: TorusShape
    public var layout: MeshLayout
    public var modelGrid: (x: Int, y: Int)
    public var dataGrid: (x: Int, y: Int)

    public static func == (a: Placement, b: Placement) -> Bool {
        a.torus == b.torus && a.layout == b.layout && a.modelGrid == b.modelGrid && a.dataGrid == b.dataGrid
    }

    /// Model axis on a contiguous Mx×My sub-torus (My = gcd(M, Y)), data axis on the complement.
    public init(layout: MeshLayout, on torus: TorusShape) throws {
        guard layout.chips == torus.chips else {
            throw MeshSimulationError("layout \(layout) has \(layout.chips) chips but the \(torus) torus has \(torus.chips)")
        }
        // M | X·Y implies (M/gcd(M, Y)) | X, so this only guards against a caller's mistake.
        let my = gcd(layout.model, torus.y), mx = layout.model / my
        guard torus.x % mx == 0 else {
            throw MeshSimulationError("model=\(layout.model) does not tile the \(torus) torus (model groups of \(mx)×\(my) chips do not divide it)")
        }
        self.torus = torus; self.layout = layout
        modelGrid = (mx, my)
        dataGrid = (torus.x / mx, torus.y / my)
    }
}

func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
