// swift-tools-version: 6.0
// vt — a distributed trainer for the Video Transformer (Weissenborn et al., ICLR 2020).
// Module layout (dependencies point down): see README.md, "Code map".

import PackageDescription

// MARK: - System libraries and C shims

let systemTargets: [Target] = [
    .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                   providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CMPI", pkgConfig: "mpi",
                   providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                   providers: [.apt(["libhdf5-dev"])]),
    // oneDNN (Debian libdnnl-dev ships no pkg-config file): bf16 matrix products, docs/design.md §8.
    .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
    // Macro handles (MPI_COMM_WORLD, H5T_NATIVE_FLOAT, ...) that Swift cannot import.
    .target(name: "_MPIShims", dependencies: ["CMPI"]),
    .target(name: "_HDF5Shims", dependencies: ["CHDF5"]),
    // The CPU's CRC-32C instruction (chosen at run time; Common) and fallocate (Checkpointing).
    .target(name: "_SystemShims"),
    // For kernels: the fp32 → bf16 rounding loop, vectorised for the running CPU (function multiversioning).
    // No FMA contraction: the C loops round as the Swift kernels they stand beside. Exponentials of the
    // attention softmax vectorise onto glibc's libmvec.
    .target(name: "_KernelShims", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fveclib=libmvec", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("mvec"), .linkedLibrary("m")]),
]

// MARK: - Library modules

let optimise: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let libraryTargets: [Target] = [
    // The one CRC-32C (hardware, table fallback) and the one monotonic clock every module uses.
    .target(name: "Common", dependencies: ["_SystemShims"], swiftSettings: optimise),
    .target(name: "OneDNN", dependencies: ["CDNNL"], swiftSettings: optimise),
    .target(name: "Kernels", dependencies: ["CBLAS", "OneDNN", "_KernelShims"], swiftSettings: optimise),
    .target(name: "VideoModel", dependencies: ["Common", "Kernels", .product(name: "Yams", package: "Yams")],
            swiftSettings: optimise),
    .target(name: "Optimization", dependencies: ["Kernels"], swiftSettings: optimise),
    .target(name: "HDF5", dependencies: ["CHDF5", "_HDF5Shims"]),
    .target(name: "Distribution", dependencies: ["CMPI", "_MPIShims", "Common", "Kernels"]),
    .target(name: "Datasets", dependencies: ["Common", "HDF5", "Kernels"], swiftSettings: optimise),
    .target(name: "Checkpointing", dependencies: ["Common", "HDF5", "Kernels", "_SystemShims"]),
    // The field's evaluation (docs/design.md §2, §10): exact bits/dim, the sampling job, PSNR/SSIM, FVD's bridge
    // to tools/fvd, and the video exports. Training runs its periodic evaluation through it.
    .target(name: "Evaluation", dependencies: ["Common", "VideoModel", "Datasets", "Distribution", "HDF5", "Checkpointing", "Kernels"],
            swiftSettings: optimise),
    .target(name: "Training",
            dependencies: ["Common", "Evaluation", "Kernels", "OneDNN", "VideoModel", "Optimization", "Datasets", "Distribution", "HDF5", "CBLAS", "Checkpointing",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: optimise),
    // The TPU-mesh cost and memory simulator: pure α-β and FLOP arithmetic over the model's config.
    .target(name: "MeshSimulation", dependencies: ["Common", "VideoModel", "Kernels"]),
    // Measuring this machine: training steps and their MFU against sgemm/bf16 peaks measured in the same run,
    // sampling, attention kernels, the loader, ZeRO-1's cost, and the mesh simulator's calibration (which
    // trains a few steps with Training's Trainer, so it sits above both).
    .target(name: "Benchmarks",
            dependencies: ["Common", "Training", "MeshSimulation", "Evaluation", "VideoModel", "Kernels", "OneDNN", "Optimization",
                           "Datasets", "Distribution"],
            swiftSettings: optimise),
    .executableTarget(name: "vt",
                      dependencies: ["Common", "Benchmarks", "MeshSimulation", "Evaluation", "Training", "VideoModel", "Datasets", "Kernels", "Distribution", "Checkpointing", "HDF5",
                                     .product(name: "ArgumentParser", package: "swift-argument-parser")]),
]

// MARK: - Tests

let testTargets: [Target] = [
    // Two tiers (docs/testing.md): the unit targets (`bash scripts/test.sh --quick`, under 3 minutes: no vt
    // binary, mpirun, ffmpeg or FVD runs, no long training) and IntegrationTests (all of those).
    // What the test targets share: temporary folders and repository paths, Foundation only, so the targets of
    // the lower modules can use it without building Training.
    .target(name: "VTTestFiles", path: "Tests/Files"),
    // Small configs (from Tests/Scripts/tiny-model.yaml), the tools the integration tests run and running the
    // vt binary: public API only; re-exports VTTestFiles.
    .target(name: "VTTestSupport", dependencies: ["VTTestFiles", "Training", "VideoModel", "Optimization", "Datasets", "Evaluation", "HDF5"],
            path: "Tests/Support"),
    .testTarget(name: "CommonTests", dependencies: ["Common"]),
    .testTarget(name: "KernelsTests", dependencies: ["Kernels", "OneDNN"]),
    .testTarget(name: "VideoModelTests", dependencies: ["VideoModel", "Kernels"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "Kernels"]),
    .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "VTTestFiles"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "HDF5", "VTTestFiles"], resources: [.copy("Fixtures")]),
    .testTarget(name: "DistributionTests", dependencies: ["Distribution"]),
    .testTarget(name: "CheckpointingTests", dependencies: ["Checkpointing", "Common", "HDF5", "Kernels", "VTTestFiles"]),
    .testTarget(name: "MeshSimulationTests", dependencies: ["MeshSimulation", "Benchmarks", "VTTestSupport", "Training", "VideoModel", "Optimization", "Kernels", "Distribution"]),
    .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "VTTestSupport", "Training", "VideoModel", "Datasets", "Distribution", "HDF5", "Kernels"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "TrainingTests", dependencies: ["Training", "Benchmarks", "VTTestSupport", "VideoModel", "Datasets", "Optimization", "Kernels", "Distribution", "Checkpointing", "HDF5"]),
    // The integration tier: runs the vt binary (under mpirun), ffmpeg and FVD's environment, or trains for
    // minutes. Each test needs its tools (`.needs(...)`): skipped with the reason when one is missing, a
    // failure under CI=true.
    .testTarget(name: "IntegrationTests", dependencies: ["VTTestSupport", "Training", "Benchmarks", "Evaluation", "MeshSimulation", "VideoModel",
                                                         "Datasets", "Optimization", "Kernels", "Distribution", "Checkpointing", "HDF5"]),
]

let package = Package(
    name: "VideoTransformer",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vt", targets: ["vt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: systemTargets + libraryTargets + testTargets,
    swiftLanguageModes: [.v5]
)
