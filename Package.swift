// swift-tools-version: 6.0
// score-cluster: batch-score MLflow pyfunc models over Parquet datasets with many worker processes.
//
// Linux only: the code calls glibc, reads /proc and embeds Debian's libpython3.11, so the
// package claims no Apple platform (SwiftPM has no `platforms` entry for Linux); the
// executable's main file stops a build elsewhere with an #error.

import PackageDescription

let package = Package(
    name: "score-cluster",
    products: [
        .executable(name: "score-cluster", targets: ["ScoreCluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // C system-library shims.
        .systemLibrary(name: "CPython", path: "Sources/CPython", pkgConfig: "python3-embed",
                       providers: [.apt(["python3.11-dev", "libpython3-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", pkgConfig: "snappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),
        // OpenSSL: libssl for TLS between machines (`coordinator --tls-certificate`, `worker --tls-ca`),
        // libcrypto for Digest's SHA-256 and HMAC.
        .systemLibrary(name: "CSSL", path: "Sources/CSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        // libcurl (Debian's OpenSSL build): HTTP for the MLflow tracking server and object stores.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        // glibc's malloc.h (mallopt), for the coordinator's memory tuning.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),

        // Columns in memory: 64-byte aligned buffers, data types, fields, record batches. No C library.
        .target(name: "Columnar"),
        // Parquet: hand-written Thrift compact protocol, metadata, page decoding and encoding, codecs,
        // file reader and writer, dataset discovery.
        .target(name: "Parquet", dependencies: ["Columnar", "CZstd", "CSnappy", "CZlib", "CLZ4"]),
        // SHA-256, HMAC-SHA256 and constant-time comparison over OpenSSL's libcrypto (EVP); hex text.
        .target(name: "Digest", dependencies: ["CSSL"]),
        // Frames and messages between coordinator and workers; socket transport, optionally TLS.
        .target(name: "Wire", dependencies: ["Columnar", "MLflowModel", "Digest", "CSSL"]),
        // What an MLflow model is, without an interpreter: the MLmodel file and its signature, result
        // types, input binding, inspection, `model save`/`add-flavor`, Python environments and their
        // builder, the model archive and its cache. Links no libpython.
        .target(name: "MLflowModel", dependencies: [
            "Columnar", "Digest", "Yams",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // A blocking HTTP client over libcurl: requests, downloads into files, retry policy.
        .target(name: "HTTP", dependencies: ["CCurl"]),
        // Object storage over the S3 API: configuration as the AWS tools read it, SigV4 signing,
        // list, ranged reads and multipart uploads with retries; Parquet datasets in a bucket.
        .target(name: "ObjectStore", dependencies: ["HTTP", "Digest", "Parquet"]),
        // Models named by MLflow URIs (`models:/fraud@champion`, `runs:/…`): resolved against the
        // tracking server's REST API, downloaded through its artifact proxy, cached by identity.
        .target(name: "ModelRegistry", dependencies: ["HTTP", "MLflowModel", "Digest"]),
        // The embedded interpreter: start it, load a model once, predict, build result columns.
        // Its Python (Python/*.py) is compiled into the binary as strings by EmbedPythonPlugin.
        .target(name: "PyFunc", dependencies: ["CPython", "MLflowModel", "Columnar", "Parquet"], plugins: ["EmbedPythonPlugin"]),
        // Build time only: writes a .py file as a Swift string literal, for EmbedPythonPlugin.
        .executableTarget(name: "EmbedPython"),
        .plugin(name: "EmbedPythonPlugin", capability: .buildTool(), dependencies: ["EmbedPython"]),
        // Reading a partition's rows and writing its part file where a worker runs
        // (`--workers-read`): blocks, column conformance, inputs local or in a store, the scorer.
        .target(name: "PartitionIO", dependencies: ["Columnar", "Parquet", "ObjectStore", "Wire"]),
        // The worker loop: connect, load the model once, score batches (or, with --workers-read,
        // whole partitions it reads and writes itself), stream results back.
        .target(name: "Worker", dependencies: [
            "Wire", "MLflowModel", "PyFunc", "Columnar", "PartitionIO", .product(name: "Logging", package: "swift-log"),
        ]),
        // How a coordinator starts a local worker (`WorkerLaunch`, rendered to `score-cluster worker`'s
        // arguments in one place) and the record a kept worker holds while it lives.
        .target(name: "WorkerLaunch"),
        // Job planning, scheduling (a pure state machine), worker connections, merge, output commit.
        .target(name: "Coordinator", dependencies: [
            "Wire", "Columnar", "Parquet", "ObjectStore", "PartitionIO", "MLflowModel", "WorkerLaunch", "Digest", "CMalloc",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Decode throughput of the Parquet reader, for bench/decode_bench.py.
        .executableTarget(name: "decode-bench", dependencies: ["Columnar", "Parquet"], path: "bench/decode-bench"),
        // SHA-256 throughput of Digest's file hashing, for bench/digest_bench.py.
        .executableTarget(name: "digest-bench", dependencies: ["Digest"], path: "bench/digest-bench"),
        // The command-line tool: argument parsing and wiring only.
        .executableTarget(name: "ScoreCluster", dependencies: [
            "Coordinator", "Worker", "WorkerLaunch", "MLflowModel", "ModelRegistry", "PyFunc", "Columnar", "Parquet", "Digest",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Paths and process helpers shared by the tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ColumnarTests", dependencies: ["Columnar", "Parquet", "TestSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "MLflowModel", "Columnar", "TestSupport"]),
        .testTarget(name: "DigestTests", dependencies: ["Digest"]),
        .testTarget(name: "MLflowModelTests", dependencies: ["MLflowModel", "Columnar", "Digest", "TestSupport"]),
        .testTarget(name: "ObjectStoreTests", dependencies: ["ObjectStore"]),
        .testTarget(name: "ModelRegistryTests", dependencies: ["ModelRegistry", "MLflowModel", "HTTP", "TestSupport"]),
        .testTarget(name: "PyFuncTests", dependencies: ["PyFunc", "MLflowModel", "Columnar", "Parquet", "Digest", "TestSupport"]),
        .testTarget(name: "CoordinatorTests", dependencies: [
            "Coordinator", "PartitionIO", "MLflowModel", "Wire", "WorkerLaunch", "Columnar", "Parquet", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Wire"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Columnar", "Parquet", "TestSupport"]),
    ]
)

// Every target imports what it uses: a member of a module the file does not import is an error,
// not a silent dependency through another import (as Hummingbird's Package.swift does).
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}
