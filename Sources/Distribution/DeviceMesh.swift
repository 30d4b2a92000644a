// DeviceMesh: the ranks laid out as a `data × model` 2-D torus (TPU pods are 2-D tori, docs/design.md §4),
// with this rank's coordinates and one communicator per axis.
//
// Layout: row-major, rank = data·model + modelIndex (MPI_Cart_create with reorder off, so world rank 0
// is mesh (0, 0) and messages can name world ranks); both axes periodic. The `data` communicator holds
// the ranks that share this rank's model coordinate (gradients are summed over it); the `model`
// communicator holds those that share its data coordinate (activation all-reduces).
// Left out: neighbour shifts, reordering ranks to the physical network.
import CMPI
import Foundation
import _MPIShims

/// The sizes of the mesh axes, parsed from `data=4,model=2`.
public struct MeshShape: Equatable, Sendable, CustomStringConvertible {
    public static let axisNames = ["data", "model"]
    public var data: Int
    public var model: Int

    public init(data: Int, model: Int) {
        self.data = data
        self.model = model
    }

    public var rankCount: Int { data * model }
    public var description: String { "data=\(data),model=\(model)" }

    /// Parses `data=D,model=M` (either order; an omitted axis has size 1) and checks it against the
    /// world: every size ≥ 1, only known axis names, each at most once, D × M == `worldSize`.
    public static func parse(_ text: String, worldSize: Int) throws -> MeshShape {
        var sizes: [String: Int] = [:]
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for item in items {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw DistributedError.invalidMesh("'\(item)' in '\(text)' is not axis=size (expected e.g. data=4,model=2)")
            }
            let (name, value) = (parts[0], parts[1])
            guard axisNames.contains(name) else {
                throw DistributedError.invalidMesh("unknown axis '\(name)' in '\(text)'; the axes are data and model")
            }
            guard sizes[name] == nil else {
                throw DistributedError.invalidMesh("axis '\(name)' is given twice in '\(text)'")
            }
            guard let size = Int(value), size >= 1 else {
                throw DistributedError.invalidMesh("axis '\(name)' has size '\(value)'; sizes are integers ≥ 1")
            }
            sizes[name] = size
        }
        let shape = MeshShape(data: sizes["data"] ?? 1, model: sizes["model"] ?? 1)
        guard shape.rankCount == worldSize else {
            throw DistributedError.invalidMesh(
                "\(shape) has \(shape.data) × \(shape.model) = \(shape.rankCount) ranks but the job has \(worldSize); "
                + "launch with mpirun -np \(shape.rankCount) or change --mesh")
        }
        return shape
    }
}

public struct MeshCoordinates: Equatable, Sendable {
    public var data: Int
    public var model: Int
}

public final class DeviceMesh: @unchecked Sendable {
    public let shape: MeshShape
    /// The whole mesh (the Cartesian communicator under MPI), ranks as in the world.
    public let all: any Communicator
    public let coordinates: MeshCoordinates
    /// Ranks with this rank's model coordinate, ordered by data coordinate (size `shape.data`).
    public let dataAxis: any Communicator
    /// Ranks with this rank's data coordinate, ordered by model coordinate (size `shape.model`).
    public let modelAxis: any Communicator

    /// Builds the mesh over all ranks of `communicator` (its size must be `shape.rankCount`).
    public init(shape: MeshShape, communicator: any Communicator) throws {
        guard shape.data >= 1, shape.model >= 1, shape.rankCount == communicator.size else {
            throw DistributedError.invalidMesh("\(shape) needs \(shape.rankCount) ranks, the communicator has \(communicator.size)")
        }
        self.shape = shape
        if let mpi = communicator as? MPICommunicator {
            var dimensions: [Int32] = [Int32(shape.data), Int32(shape.model)]
            var periodic: [Int32] = [1, 1]
            var cartesian: MPI_Comm? = nil
            try MPIRuntime.call("MPI_Cart_create") {
                MPI_Cart_create(mpi.handle, 2, &dimensions, &periodic, 0, &cartesian)
            }
            let mesh = try MPICommunicator(handle: cartesian!, owns: true)
            var coordinates: [Int32] = [0, 0]
            try MPIRuntime.call("MPI_Cart_coords") { MPI_Cart_coords(mesh.handle, Int32(mesh.rank), 2, &coordinates) }
            all = mesh
            self.coordinates = MeshCoordinates(data: Int(coordinates[0]), model: Int(coordinates[1]))
            dataAxis = try Self.subCommunicator(mesh, keep: [1, 0])
            modelAxis = try Self.subCommunicator(mesh, keep: [0, 1])
        } else {
            guard communicator.size == 1 else {
                throw DistributedError.invalidMesh("a mesh over \(communicator.size) ranks needs an MPICommunicator")
            }
            all = communicator
            coordinates = MeshCoordinates(data: 0, model: 0)
            dataAxis = LocalCommunicator()
            modelAxis = LocalCommunicator()
        }
    }

    /// Parses `text` (see `MeshShape.parse`) and builds the mesh over `communicator`.
    public convenience init(parsing text: String, communicator: any Communicator) throws {
        try self.init(shape: MeshShape.parse(text, worldSize: communicator.size), communicator: communicator)
    }

    private static func subCommunicator(_ mesh: MPICommunicator, keep: [Int32]) throws -> MPICommunicator {
        var remain = keep
        var axis: MPI_Comm? = nil
        try MPIRuntime.call("MPI_Cart_sub") { MPI_Cart_sub(mesh.handle, &remain, &axis) }
        return try MPICommunicator(handle: axis!, owns: true)
    }
}
