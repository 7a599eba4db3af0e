import ArgumentParser
import H2Transport
import ImportEngine
import ImportService
import ImportStorePostgres
import ImportStoreSQLite
import PostgresDB
import SQLiteDB
import Logging
import Platform
import RPCCore
import RPCHealth

#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the import service (the default command).")

    @Option(help: "Address to listen on, HOST:PORT (port 0 lets the system pick).")
    var listen: String = "127.0.0.1:50051"

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: "How often the scheduler runs queued imports, aligned to multiples of it (15m: :00 :15 :30 :45).")
    var importInterval: DurationArgument = DurationArgument(argument: "15m")!

    @Option(help: "Certificate chain (PEM): serve TLS with ALPN h2 instead of h2c.")
    var tlsCert: String?

    @Option(help: "Private key (PEM) of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Largest upload accepted, in megabytes.")
    var maxUploadMb: Int = 2048

    @Option(help: "What the spool (uploaded files) may hold in all, in bytes; 0: no quota.")
    var maxSpoolBytes: Int64 = 0

    @Option(help: "Uploads streaming at once at most.")
    var maxConcurrentUploads: Int = 16

    @Option(help: "End an upload that sends nothing for this long.")
    var uploadIdleTimeout: DurationArgument = DurationArgument(argument: "5m")!

    @Option(help: "How often an import paused by a full disk checks for free space again.")
    var diskFullRetry: DurationArgument = DurationArgument(argument: "10s")!

    @Option(help: "With --database: how long an import's claim lasts unless its replica renews it; a replica that dies holds its import this long, then another takes it over.")
    var claimLease: DurationArgument = DurationArgument(argument: "15s")!

    @Option(help: "Rows per batch: one transaction each; pause and cancel act between batches.")
    var batchRows: Int = 10_000

    @Option(help: "Event loop threads for connections (default: one per core, at most 4).")
    var eventLoops: Int = defaultEventLoops

    @Option(help: "End a call whose client stops sending in the middle of a message for this long.")
    var receiveTimeout: DurationArgument = DurationArgument(argument: "30s")!

    @Option(help: "Connections at most (lowered below the open-files limit, ulimit -n).")
    var maxConnections: Int = 10_000

    @Option(help: "Calls (streams) open at once on one connection: a dashboard's watches, say.")
    var maxConcurrentStreams: Int = 4096

    @Option(help: "Calls open at once on the whole server, watches included; more end with RESOURCE_EXHAUSTED.")
    var maxCalls: Int = 100_000

    @Option(help: "PING a client after this long without a frame from it, to find dead connections (off: never).")
    var keepaliveTime: String = "2h"

    @Option(help: "Close a connection whose client does not answer our PING within this.")
    var keepaliveTimeout: DurationArgument = DurationArgument(argument: "20s")!

    @Option(help: "Clients may PING at most this often while they have calls (faster: GOAWAY too_many_pings).")
    var keepaliveMinPingInterval: DurationArgument = DurationArgument(argument: "1m")!

    @Option(help: ArgumentHelp("Serve /metrics (Prometheus), /healthz and /readyz over HTTP/1.1 here (off by default).", valueName: "host:port"))
    var adminListen: String?

    @Option(help: ArgumentHelp("Serve the Import Status web page, and the service over Connect and gRPC-Web, over HTTP/1.1 here (off by default; TLS with --tls-cert).", valueName: "host:port"))
    var webListen: String?

    @Option(help: ArgumentHelp("An origin other pages may call the web listener from (CORS), e.g. https://crm.example.com; repeat for more. None by default.", valueName: "origin"))
    var webAllowedOrigin: [String] = []

    @Option(help: "Server reflection (grpcurl, grpcui, Postman): read (needs a read token), public or off.")
    var reflection: String = "read"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "text or json: one line per event either way (a finished call, an import state change, a refusal).")
    var logFormat: String = "text"

    func validate() throws {
        guard HostPort(listen, allowAnyPort: true) != nil else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:50051") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let adminListen, HostPort(adminListen, allowAnyPort: true) == nil {
            throw ValidationError("--admin-listen must be HOST:PORT, e.g. 127.0.0.1:9090")
        }
        if let webListen, HostPort(webListen, allowAnyPort: true) == nil {
            throw ValidationError("--web-listen must be HOST:PORT, e.g. 127.0.0.1:8080")
        }
        guard LineLogHandler.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format takes text or json") }
        guard ImportServiceHandler.Reflection(rawValue: reflection) != nil else {
            throw ValidationError("--reflection takes read, public or off")
        }
        guard keepaliveTime == "off" || DurationArgument(argument: keepaliveTime) != nil else {
            throw ValidationError("--keepalive-time takes a duration (2h, 30m) or off")
        }
        guard claimLease.duration >= .seconds(1) else { throw ValidationError("--claim-lease must be 1s or more") }
        guard maxUploadMb > 0, batchRows > 0, eventLoops > 0, maxConnections > 0, maxConcurrentStreams > 0, maxCalls > 0, maxConcurrentUploads > 0, maxSpoolBytes >= 0 else { throw ValidationError("sizes and counts must be positive") }
    }

    /// Every setting and its value, as `config print` shows them.
    var effectiveSettings: [(String, String)] {
        [
            ("listen", listen), ("data-dir", data.dataDir), ("database", data.databaseURL.map(Self.maskedURL) ?? "(SQLite in the data directory)"),
            ("claim-lease", claimLease.description), ("import-interval", importInterval.description),
            ("tls-cert", tlsCert ?? "(none)"), ("tls-key", tlsKey ?? "(none)"), ("max-upload-mb", String(maxUploadMb)),
            ("max-spool-bytes", String(maxSpoolBytes)), ("max-concurrent-uploads", String(maxConcurrentUploads)),
            ("upload-idle-timeout", uploadIdleTimeout.description), ("disk-full-retry", diskFullRetry.description),
            ("batch-rows", String(batchRows)), ("event-loops", String(eventLoops)), ("receive-timeout", receiveTimeout.description),
            ("max-connections", String(maxConnections)), ("max-concurrent-streams", String(maxConcurrentStreams)), ("max-calls", String(maxCalls)),
            ("keepalive-time", keepaliveTime), ("keepalive-timeout", keepaliveTimeout.description),
            ("keepalive-min-ping-interval", keepaliveMinPingInterval.description), ("admin-listen", adminListen ?? "(off)"),
            ("web-listen", webListen ?? "(off)"), ("web-allowed-origin", webAllowedOrigin.isEmpty ? "(none)" : webAllowedOrigin.joined(separator: ",")),
            ("reflection", reflection), ("log-level", logLevel), ("log-format", logFormat),
        ]
    }

    /// A connection URI with its password hidden.
    static func maskedURL(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://"), let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else {
            return url
        }
        return String(url[..<url.index(after: colon)]) + "********" + String(url[at...])
    }

    func run() async throws {
        Memory.configureForServer()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: LineLogHandler.Format(rawValue: logFormat) ?? .text)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "importd")
        let listenAddress = HostPort(listen, allowAnyPort: true)!
        let (host, port) = (listenAddress.host, listenAddress.port)
        // The database and spooled files hold personal data: owner only.
        umask(0o077)
        // Before anything can say it is ready: a SIGTERM that comes at once is kept.
        let termination = TerminationSignal()

        try FileSystem.createDirectory(data.dataDir)
        // Personal data lives here: a directory others can write is refused.
        if let mode = FileSystem.mode(data.dataDir), mode & 0o022 != 0 {
            Terminal.write(Terminal.standardError,
                "importd: \(data.dataDir) can be written by other users (mode \(String(mode & 0o777, radix: 8))); make it private first: chmod 700 \(data.dataDir)\n")
            throw ExitCode(1)
        }
        // One server per data directory: two would run two schedulers on one database.
        let lock: FileLock
        do {
            lock = try FileLock(path: data.lockPath)
        } catch let held as FileLock.Held {
            let who = held.pid.map { "another importd (pid \($0))" } ?? "another importd"
            Terminal.write(Terminal.standardError, "importd: \(who) is already serving \(data.dataDir); stop it first, or give this one another --data-dir\n")
            throw ExitCode(1)
        }
        defer { withExtendedLifetime(lock) {} }
        let store: any ImportStore
        do {
            store = try data.openStore(lease: claimLease.duration)
        } catch let newer as NewerSchemaError {
            Terminal.write(Terminal.standardError, "importd: \(newer)\n")
            throw ExitCode(1)
        } catch let error as PGError {
            Terminal.write(Terminal.standardError, "importd: the PostgreSQL database (--database) is not usable: \(error.message)\n")
            throw ExitCode(1)
        }
        var configuration = ImporterConfiguration(spoolDirectory: data.spoolDirectory)
        configuration.importInterval = importInterval.duration
        configuration.maxUploadBytes = Int64(maxUploadMb) << 20
        configuration.batchRows = batchRows
        configuration.maxSpoolBytes = maxSpoolBytes
        configuration.maxConcurrentUploads = maxConcurrentUploads
        configuration.diskFullRetry = diskFullRetry.duration
        configuration.uploadIdleTimeout = uploadIdleTimeout.duration
        // A claim is renewed three times per lease at least, and a dead
        // replica's import is looked for twice per lease.
        configuration.claimRenewal = min(.seconds(2), claimLease.duration / 3)
        configuration.abandonedRunCheck = min(.seconds(2), claimLease.duration / 2)
        let importer = Importer(store: store, clock: SystemClock(), configuration: configuration, logger: logger)
        try await ensureAdminToken(importer, logger: logger)
        try await importer.start()

        let health = HealthService()
        let stamp = data.tokensChanged
        let admin = AdminEndpoint()
        var router = ImportServiceHandler.router(importer: importer, health: health, logger: logger, tokensChanged: { stamp.current() },
            reflection: ImportServiceHandler.Reflection(rawValue: reflection) ?? .read)
        let logCall = router.onCallFinished
        let callMetrics = admin.callMetrics(paths: router.paths)
        router.onCallFinished = { call in
            logCall?(call)
            callMetrics.record(call)
        }
        var server = GRPCServerConfiguration()
        server.host = host
        server.port = port
        server.eventLoops = eventLoops
        server.maxConnections = maxConnections
        server.maxConcurrentStreams = maxConcurrentStreams
        server.maxCalls = maxCalls
        server.keepalive.time = DurationArgument(argument: keepaliveTime)?.duration
        server.keepalive.timeout = keepaliveTimeout.duration
        server.keepalive.minClientPingInterval = keepaliveMinPingInterval.duration
        server.limits.receiveTimeout = receiveTimeout.duration
        server.log = { [logger] message in logger.warning("\(message)") }
        if let tlsCert, let tlsKey {
            server.tls = TLSServerConfiguration(certificateChainFile: tlsCert, privateKeyFile: tlsKey)
        }
        let grpc = GRPCServer(router: router, configuration: server)
        let bound: Int
        do {
            bound = try await grpc.start()
        } catch {
            await importer.shutdown()
            throw error
        }
        let address = HostPort(host: host, port: bound).description
        let storage = data.databaseURL.map { "PostgreSQL at \(Self.maskedURL($0)), spool cache in \(data.dataDir)" } ?? "data in \(data.dataDir)"
        logger.info("listening on \(address) (\(tlsCert == nil ? "h2c" : "TLS, ALPN h2")), \(storage)")
        admin.attach(grpc)
        // SIGHUP: new certificate files (a renewal) without dropping a connection.
        let webServerBox = WebServerBox()
        let servesTLS = tlsCert != nil
        SignalEvents.on(SIGHUP) { [logger] _ in
            guard servesTLS else {
                logger.info("SIGHUP: nothing to reload (no --tls-cert)")
                return
            }
            Task {
                do {
                    try await grpc.reloadTLS()
                    try await webServerBox.server?.reloadTLS()
                    logger.info("reloaded the TLS certificate and key; new connections use them")
                } catch {
                    logger.error("kept the current TLS certificate: reloading failed: \(error)")
                }
            }
        }
        admin.collect(importer: importer, store: store, dataDirectory: data.dataDir, spoolDirectory: data.spoolDirectory)
        var adminServer: AdminHTTPServer?
        if let adminListen, let hostPort = HostPort(adminListen, allowAnyPort: true) {
            let http = AdminHTTPServer(routes: admin.routes(store: store))
            let adminPort = try await http.start(host: hostPort.host, port: hostPort.port)
            logger.info("admin endpoint on \(HostPort(host: hostPort.host, port: adminPort)): /metrics, /healthz, /readyz")
            adminServer = http
        }
        var webServer: WebServer?
        var webURL: String?
        if let webListen, let hostPort = HostPort(webListen, allowAnyPort: true) {
            let web = WebServer(router: router, codec: WebConsole.codec(), configuration: WebConsole.configuration(
                host: hostPort.host, port: hostPort.port, tls: server.tls, allowedOrigins: webAllowedOrigin, maxUploadChunk: 4 << 20))
            let webPort = try await web.start()
            let scheme = tlsCert == nil ? "http" : "https"
            logger.info("web console on \(scheme)://\(HostPort(host: hostPort.host, port: webPort))/ (sign in with a token); Connect and gRPC-Web on the same port")
            webURL = "\(scheme)://\(HostPort(host: hostPort.host, port: webPort))/"
            webServer = web
            webServerBox.server = web
        }
        let nextRun = UTCTime.iso8601(seconds: await importer.nextTick.seconds)
        logger.info("imports run every \(importInterval); the next run is at \(nextRun)")
        logger.info("""
            try it: export IMPORTCTL_SERVER=\(address) IMPORTCTL_TOKEN=$(cat \(data.adminTokenPath)); \
            importctl template -o contacts.csv; importctl upload contacts.csv --watch
            """)
        // For scripts and tests: one line on stdout once the server is ready.
        print("listening on \(address)")
        if let webURL { print("web console on \(webURL)") }
        fflushStandardOutput()

        await termination.wait()
        admin.beginDraining()
        logger.info("stopping: ending watch streams, draining calls, stopping the running import at a batch boundary")
        health.markAllNotServing()
        importer.hub.closeAll()
        async let drained: Void = grpc.shutdown(grace: .seconds(10))
        async let stopped: Void = importer.shutdown()
        _ = await (drained, stopped)
        await adminServer?.stop()
        await webServer?.stop()
        logger.info("stopped")
    }

    /// The first start creates an admin token and writes it to DIR/admin.token
    /// (0600). Later starts never mint another: a deleted admin.token is not a
    /// way to a second admin token while the first stays valid.
    private func ensureAdminToken(_ importer: Importer, logger: Logger) async throws {
        guard !FileSystem.exists(data.adminTokenPath) else { return }
        guard try await importer.store.tokens().isEmpty else {
            logger.warning("\(data.adminTokenPath) is missing and tokens exist: no new admin token was made; create one with importd token create --scope admin --data-dir \(data.dataDir) (and revoke the lost one)")
            return
        }
        let (token, secret) = try await importer.createToken(name: "admin", scope: .admin)
        try FileSystem.writeFile(data.adminTokenPath, contents: secret + "\n", mode: 0o600)
        logger.info("created admin token \(ResourceKind.token.format(token.id)) in \(data.adminTokenPath) (mode 0600)")
    }
}

/// The web listener, once it runs, for the SIGHUP handler set up before it.
final class WebServerBox: @unchecked Sendable {
    // @unchecked: set once before the server says it is ready, read by the signal handler after.
    var server: WebServer?
}

/// One event loop per core, at most four: SQLite work runs on its own threads.
let defaultEventLoops = max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

func fflushStandardOutput() {
    fflush(nil)
}

