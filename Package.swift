// swift-tools-version:6.0
// importd: a contacts-import service speaking gRPC over HTTP/2 (nghttp2 + libevent),
// and importctl, its command-line client. See README.md and docs/architecture.md.
//
// One list of targets, by layer, arrows pointing down; each test target stands
// beside the target it tests.
import PackageDescription

let deque = Target.Dependency.product(name: "DequeModule", package: "swift-collections")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

/// libFuzzer targets (make fuzz): built only when IMPORTD_FUZZ is set, with
/// --sanitize=fuzzer --sanitize=address, into .build-fuzz; a normal build never sees them.
let fuzzTargets: [Target] = Context.environment["IMPORTD_FUZZ"] == nil ? [] : [
    .executableTarget(name: "FuzzCSV", dependencies: ["ImportEngine"], path: "Tests/Fuzz/FuzzCSV"),
    .executableTarget(name: "FuzzMessages", dependencies: ["ProtoMessages", "RPCCore"], path: "Tests/Fuzz/FuzzMessages"),
    .executableTarget(name: "FuzzHTTP2", dependencies: ["H2Transport", "RPCCore", "RPCHealth", "ProtoMessages"], path: "Tests/Fuzz/FuzzHTTP2"),
]

let package = Package(
    name: "importd",
    products: [
        // What a Swift service adds as a dependency to call importd.
        .library(name: "ImportClient", targets: ["ImportClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),  // LogHandler.log(event:)
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // MARK: C libraries: one module map each, and the C Swift cannot write itself.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_openssl", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // protoc-c output (scripts/generate-protos.sh), committed.
        .target(name: "CProtos", dependencies: ["CProtobufC"]),
        // ioctl (variadic) and a signal handler: what Swift cannot do itself.
        .target(name: "CPlatform"),

        // MARK: Thin safe wrappers over the C libraries: the only unsafe interop.
        // SHA-256 and random bytes (OpenSSL), durable files, locks, the terminal, Ctrl-C.
        .target(name: "Platform", dependencies: ["COpenSSL", "CPlatform"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        // A small safe SQLite wrapper: connections, statements, errors, migrations, queues.
        .target(name: "SQLiteDB", dependencies: ["CSQLite"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .testTarget(name: "SQLiteDBTests", dependencies: ["SQLiteDB"]),
        // A small safe libpq wrapper (PostgreSQL): connections, parameters, results, prepared
        // statements, COPY, LISTEN/NOTIFY, migrations under an advisory lock. No second runtime.
        .target(name: "PostgresDB", dependencies: ["CLibPQ"]),
        .testTarget(name: "PostgresDBTests", dependencies: ["PostgresDB", "PostgresTestSupport"]),
        // A throwaway PostgreSQL cluster for tests and benchmarks.
        .target(name: "PostgresTestSupport", dependencies: ["PostgresDB"], path: "Tests/PostgresTestSupport"),
        // gzip in memory, bounded inflation (gRPC's grpc-encoding: gzip).
        .target(name: "Gzip", dependencies: ["CZlib"]),
        .testTarget(name: "GzipTests", dependencies: ["Gzip"]),

        // Counters, gauges and histograms in Prometheus's text format. Pure Swift.
        .target(name: "Metrics"),

        // MARK: RPC core: status, metadata, framing, handler kinds, router, client calls. No C, no transport.
        .target(name: "RPCCore"),
        // Calls straight to a router in the same process: fast service tests, no sockets.
        .target(name: "RPCInProcess", dependencies: ["RPCCore", deque]),
        .testTarget(name: "RPCCoreTests", dependencies: ["RPCCore", "RPCInProcess"]),
        // Swift value types <-> protobuf-c structs; the only place those structs exist.
        .target(name: "ProtoMessages", dependencies: ["RPCCore", "CProtos", "CProtobufC"]),
        .testTarget(name: "ProtoMessagesTests", dependencies: ["ProtoMessages", "RPCCore"]),
        // grpc.health.v1.Health, served by every server built on the core.
        .target(name: "RPCHealth", dependencies: ["RPCCore", "ProtoMessages"]),
        // grpc.reflection.v1 and v1alpha over the descriptors compiled in.
        .target(name: "RPCReflection", dependencies: ["RPCCore", "ProtoMessages"]),

        // MARK: HTTP/2 transport: nghttp2 + libevent event loops, server and client.
        .target(name: "H2Transport", dependencies: ["RPCCore", "CNGHTTP2", "CLibevent", "Gzip", deque]),
        .testTarget(name: "H2TransportTests", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "RPCHealth", "RPCTestService", "Gzip"]),
        // rpctest.v1.TestService and its server, for interop tests and benchmarks.
        // It also holds gRPC's own interop TestService and BenchmarkService, and how test servers run.
        .target(name: "RPCTestService", dependencies: ["RPCCore", "ProtoMessages", "Platform", "H2Transport", "RPCHealth"]),
        .executableTarget(name: "rpctest", dependencies: ["H2Transport", "RPCCore", "RPCHealth", "RPCTestService"]),
        // gRPC's interop server and client (doc/interop-test-descriptions.md), with gRPC's flags.
        .executableTarget(name: "interop-server", dependencies: ["H2Transport", "RPCCore", "RPCHealth", "RPCTestService", "ProtoMessages", "Platform", argumentParser]),
        .executableTarget(name: "interop-client", dependencies: ["H2Transport", "RPCCore", "RPCTestService", "ProtoMessages", argumentParser]),
        // Our client against a grpcio server (the outside world's gRPC).
        .testTarget(name: "InteropTests", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "Platform"]),

        // MARK: The import domain: CSV, header mapping, validation, dedup, job lifecycle,
        // scheduler, progress, processing. No RPC, no SQL.
        .target(name: "ImportEngine", dependencies: ["Platform", logging, deque]),
        .testTarget(name: "ImportEngineTests", dependencies: ["ImportEngine", "Platform"]),

        // MARK: Storage: ImportStore on SQLite, all the SQL of the import domain.
        .target(name: "ImportStoreSQLite", dependencies: ["ImportEngine", "SQLiteDB", "Platform"]),
        // The engine and its SQLite store together, on a manual clock.
        .target(name: "ImportStorePostgres", dependencies: ["ImportEngine", "PostgresDB", "Platform"]),
        .testTarget(name: "ImporterTests", dependencies: [
            "ImportEngine", "ImportStoreSQLite", "ImportStorePostgres", "PostgresTestSupport", "SQLiteDB", "PostgresDB", "Platform", logging,
        ]),

        // MARK: Service: the ImportService RPCs mapped to the engine; domain errors -> gRPC status in one place.
        .target(name: "ImportService", dependencies: ["ImportEngine", "ProtoMessages", "RPCCore", "RPCHealth", "RPCReflection", "Platform", logging]),
        .testTarget(name: "ImportServiceTests", dependencies: [
            "ImportService", "ImportEngine", "ImportStoreSQLite", "RPCInProcess", "RPCCore", "RPCHealth", "RPCReflection", "ProtoMessages",
            "Platform", logging,
        ]),

        // MARK: Executables.
        .executableTarget(name: "importd", dependencies: [
            "H2Transport", "RPCCore", "RPCHealth", "ImportEngine", "ImportStoreSQLite", "ImportStorePostgres", "PostgresDB", "SQLiteDB", "ImportService", "ProtoMessages", "Platform",
            "Metrics", logging, argumentParser,
        ], resources: [
            // The browser's Import Status screen, compiled into the binary (no files to install, no CDN).
            .embedInCode("Web/index.html"), .embedInCode("Web/app.js"), .embedInCode("Web/app.css"),
        ]),
        // The Swift client library services depend on (product ImportClient): uploads, watches, results.
        .target(name: "ImportClient", dependencies: ["H2Transport", "RPCCore", "ProtoMessages", "Platform"], path: "clients/swift/ImportClient"),
        .testTarget(name: "ImportClientTests", dependencies: ["ImportClient", "ProtoMessages", "RPCCore", "Platform"], path: "Tests/ImportClientTests"),
        // The bundled command-line client, built on ImportClient: no SQLite, no engine.
        .executableTarget(name: "importctl", dependencies: ["ImportClient", "H2Transport", "RPCCore", "ProtoMessages", "Platform", argumentParser], path: "clients/importctl"),
        // Benchmarks of the engine alone (make bench), and the crash and parser tests' driver.
        .executableTarget(name: "importbench", dependencies: ["ImportEngine", "ImportStoreSQLite", "ImportStorePostgres", "Platform", logging], path: "bench/importbench"),
        // Live status at scale against a running importd: first snapshots, memory per watcher, fan-out latency (make bench).
        .executableTarget(name: "watchbench", dependencies: ["H2Transport", "RPCCore", "ProtoMessages"], path: "bench/watchbench"),
        // Streaming throughput of grpc.testing.BenchmarkService, any server (make bench).
        .executableTarget(name: "streambench", dependencies: ["H2Transport", "RPCCore", "ProtoMessages"], path: "bench/streambench"),
    ] + fuzzTargets
)
