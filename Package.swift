// swift-tools-version:6.0
// importd: a contacts-import service speaking gRPC over HTTP/2 (nghttp2 + libevent),
// and importctl, its command-line client. See README.md.
import PackageDescription

let deque = Target.Dependency.product(name: "DequeModule", package: "swift-collections")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "importd",
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // C libraries: one module map each.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_openssl", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        // protoc-c output (scripts/generate-protos.sh), committed.
        .target(name: "CProtos", dependencies: ["CProtobufC"]),

        // RPC core: status, metadata, framing, handler kinds, router, client calls. No C.
        .target(name: "RPCCore"),
        // Swift value types <-> protobuf-c structs; the only place those structs exist.
        .target(name: "ProtoMessages", dependencies: ["RPCCore", "CProtos", "CProtobufC"]),
    ]
)

package.targets += [
    // HTTP/2 transport: nghttp2 + libevent event loops, server and client.
    .target(name: "H2Transport", dependencies: ["RPCCore", "CNGHTTP2", "CLibevent", deque]),
]

package.targets += [
    // Thin wrappers over OpenSSL's digests and random numbers, and files.
    .target(name: "CPlatform"),
    .target(name: "Platform", dependencies: ["COpenSSL", "CPlatform"]),
    // grpc.health.v1.Health, served by every server built on the core.
    .target(name: "RPCHealth", dependencies: ["RPCCore", "ProtoMessages"]),
    // rpctest.v1.TestService and its server, for interop tests and benchmarks.
    .target(name: "RPCTestService", dependencies: ["RPCCore", "ProtoMessages", "Platform"]),
    .executableTarget(name: "rpctest", dependencies: ["H2Transport", "RPCCore", "RPCHealth", "RPCTestService"]),
]

package.targets += [
    .testTarget(name: "RPCCoreTests", dependencies: ["RPCCore"]),
    .testTarget(name: "ProtoMessagesTests", dependencies: ["ProtoMessages", "RPCCore"]),
    .testTarget(name: "H2TransportTests", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "RPCHealth", "RPCTestService", "CNGHTTP2"]),
]

package.targets += [
    .testTarget(name: "InteropTests", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "Platform"]),
]

package.targets += [
    .executableTarget(name: "importd", dependencies: [
        "H2Transport", "RPCCore", "RPCHealth", "ImportEngine", "ImportStoreSQLite", "ImportService", "Platform", logging, argumentParser,
    ]),
]

package.targets += [
    // A small safe wrapper over the sqlite3 C API.
    .target(name: "SQLiteDB", dependencies: ["CSQLite"]),
    .testTarget(name: "SQLiteDBTests", dependencies: ["SQLiteDB"]),
]

package.targets += [
    // The import domain: CSV, header mapping, validation, dedup, job state machine,
    // scheduler, progress, processing. No RPC, no SQL.
    .target(name: "ImportEngine", dependencies: ["Platform", logging, deque]),
    .testTarget(name: "ImportEngineTests", dependencies: ["ImportEngine", "Platform"]),
]

package.targets += [
    // ImportStore on SQLite: all the SQL of the import domain.
    .target(name: "ImportStoreSQLite", dependencies: ["ImportEngine", "SQLiteDB", "Platform"]),
]

package.targets += [
    .testTarget(name: "ImporterTests", dependencies: ["ImportEngine", "ImportStoreSQLite", "SQLiteDB", "Platform", logging]),
]

package.targets += [
    // Benchmarks of the engine alone (make bench).
    .executableTarget(name: "importbench", dependencies: ["ImportEngine", "ImportStoreSQLite", "Platform", logging], path: "bench/importbench"),
]

package.targets += [
    // The ImportService RPCs mapped to the import engine; domain errors -> gRPC status in one place.
    .target(name: "ImportService", dependencies: ["ImportEngine", "ProtoMessages", "RPCCore", "RPCHealth", logging]),
]

package.targets += [
    // The bundled command-line client: gRPC client transport only, no SQLite, no engine.
    .executableTarget(name: "importctl", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "Platform", argumentParser], path: "clients/importctl"),
]

package.targets += [
    .testTarget(name: "ImportServiceTests", dependencies: [
        "ImportService", "ImportEngine", "ImportStoreSQLite", "H2Transport", "RPCCore", "RPCHealth", "ProtoMessages", "Platform", logging,
    ]),
]
