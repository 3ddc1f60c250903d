// swift-tools-version:6.0
// The module graph is the architecture: C shims at the bottom, Swift wrappers that hide every C
// pointer above them, the pipeline on top, and the `kd` executable that only parses arguments.
import PackageDescription

/// Release builds target AVX2+FMA+F16C (every x86-64 CPU since 2013): Swift's default baseline
/// (SSE2) turns SIMD FMA and Float16 conversion into library calls (see ../shared/PLATFORM.md).
let releaseFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))]

let package = Package(
    name: "kd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kd", targets: ["kd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries: headers and a few inline accessors, no API of their own.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // oneDNN 2.x (Debian ships no pkg-config file for it: the module map links it by name).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),

        // Swift wrappers that own handles and throw.
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .target(name: "ImageIO", dependencies: ["CPNG"]),
        .target(name: "BLAS", dependencies: ["CBLAS"]),
        .target(name: "DNNL", dependencies: ["CDNNL"]),
        // The processes of an mpirun/srun launch (rank, size, a few collectives); no MPI call
        // at all in a process started without a launcher.
        .target(name: "Cluster", dependencies: ["CMPI", "Parallel"]),

        // Tensors with reverse-mode autodiff that differentiates its own backward pass.
        .target(name: "Tensor", dependencies: ["BLAS", "DNNL", "Parallel"], swiftSettings: releaseFlags),

        .target(name: "NN", dependencies: ["Tensor", "Parallel"], swiftSettings: releaseFlags),
        .target(name: "Losses", dependencies: ["Tensor"], swiftSettings: releaseFlags),
        .target(name: "Optimizers", dependencies: ["Tensor"], swiftSettings: releaseFlags),

        // state_dict checkpoints: HDF5 (read and written) and safetensors (read).
        .target(name: "Checkpoints", dependencies: ["HDF5", "NN", "Tensor"]),

        // Parallel loops, a bounded queue and worker boxes; SHA-256 and CRC-32C.
        .target(name: "Parallel"),
        .target(name: "Hashing"),
        // Image sources and importers into packed HDF5.
        .target(name: "Datasets", dependencies: ["HDF5", "ImageIO", "Parallel", "CZlib"]),
        // The pipeline, one folder per part: Configuration (pipeline files), Stages (data, teacher,
        // precompute, distill, report, eval, inspect, import), Cache (schema, groups, writer, reader,
        // verify, shards, join, materialize), Methods (one file per loss term and init stage), Training (the loop and its
        // observers), Reporting (table, chart, TensorBoard), Shared (run paths, fingerprints, views).
        // Knows nothing about the command line.
        .target(name: "Pipeline", dependencies: ["HDF5", "ImageIO", "Datasets", "Tensor", "NN", "Losses", "Optimizers", "Checkpoints",
                                                "Parallel", "Hashing", "Cluster", .product(name: "Yams", package: "Yams")],
                swiftSettings: releaseFlags),

        // The command line: one file per command, parsing only.
        .executableTarget(name: "kd", dependencies: ["Pipeline", "Cluster", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "kdbench", dependencies: ["Pipeline", "Datasets", "HDF5", "BLAS", "DNNL", "Tensor", "NN", "Losses", "Optimizers", "Parallel", "Checkpoints"],
                          swiftSettings: releaseFlags),

        .target(name: "TestSupport", dependencies: ["CZlib"], path: "Tests/TestSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO", "TestSupport"]),
        .testTarget(name: "BLASTests", dependencies: ["BLAS"]),
        .testTarget(name: "DNNLTests", dependencies: ["DNNL"]),
        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Parallel"]),
        .testTarget(name: "LossesTests", dependencies: ["Losses", "Tensor", "HDF5"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor", "Losses", "Optimizers", "Checkpoints", "HDF5", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "HDF5", "ImageIO", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Datasets", "HDF5", "ImageIO", "Checkpoints", "NN", "Tensor", "Losses", "TestSupport",
                                                    .product(name: "Yams", package: "Yams")],
                    resources: [.copy("Fixtures")]),
    ]
)
