// Mesh parsing and validation; the mesh over a LocalCommunicator.
import Testing
@testable import Distribution

@Test func parsesBothAxesInEitherOrder() throws {
    #expect(try MeshShape.parse("data=4,model=2", worldSize: 8) == MeshShape(data: 4, model: 2))
    #expect(try MeshShape.parse("model=2,data=4", worldSize: 8) == MeshShape(data: 4, model: 2))
    #expect(try MeshShape.parse(" data = 3 , model = 1 ", worldSize: 3) == MeshShape(data: 3, model: 1))
}

@Test func omittedAxisHasSizeOne() throws {
    #expect(try MeshShape.parse("data=4", worldSize: 4) == MeshShape(data: 4, model: 1))
    #expect(try MeshShape.parse("model=2", worldSize: 2) == MeshShape(data: 1, model: 2))
}

@Test(arguments: [
    ("data=4,model=2", 4, "has 4 × 2 = 8 ranks but the job has 4"),
    ("data=0,model=1", 0, "sizes are integers ≥ 1"),
    ("data=-2", 2, "sizes are integers ≥ 1"),
    ("data=two", 2, "sizes are integers ≥ 1"),
    ("data=2,pipeline=2", 4, "unknown axis 'pipeline'"),
    ("data=2,data=2", 4, "given twice"),
    ("data2", 2, "is not axis=size"),
    ("", 1, "is not axis=size"),
    ("data=2,", 2, "is not axis=size"),
])
func rejectsIllegalMeshes(text: String, worldSize: Int, message: String) {
    #expect {
        try MeshShape.parse(text, worldSize: worldSize)
    } throws: { error in
        guard case DistributedError.invalidMesh(let text) = error else { return false }
        return text.contains(message)
    }
}

@Test func localMeshIsOneByOne() throws {
    let mesh = try DeviceMesh(parsing: "data=1,model=1", communicator: LocalCommunicator())
    #expect(mesh.coordinates == MeshCoordinates(data: 0, model: 0))
    #expect(mesh.dataAxis.size == 1 && mesh.modelAxis.size == 1 && mesh.all.size == 1)
    #expect(throws: DistributedError.self) {
        try DeviceMesh(shape: MeshShape(data: 2, model: 1), communicator: LocalCommunicator())
    }
}
