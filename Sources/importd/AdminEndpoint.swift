import H2Transport
import ImportEngine
import ImportStoreSQLite
import Metrics
import Platform
import RPCCore
import Synchronization

/// The admin listener (`--admin-listen`): `/metrics` in Prometheus's text
/// format, `/healthz` (the process is up) and `/readyz` (the database answers
/// and the server is not draining).
final class AdminEndpoint: Sendable {
    let registry = MetricsRegistry()
    private let draining = Atomic<Bool>(false)
    private let grpc = Mutex<GRPCServer?>(nil)
    private let lastRate = Mutex<(id: Int64, rows: Int64, at: ContinuousClock.Instant)?>(nil)

    static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    init() {
        registry.declare("importd_rpc_requests_total", help: "Finished calls by method and status code.", kind: .counter, labels: ["method", "code"])
        registry.declare("importd_rpc_duration_seconds", help: "Call durations by method, from the request headers to the status.",
            kind: .histogram, labels: ["method"], buckets: Self.durationBuckets)
    }

    /// What counts finished calls: every served method's series resolved
    /// now, so a call costs no label look-up. A path no handler serves (the
    /// client's choice, unbounded) is counted as method "unknown".
    func callMetrics(paths: [String]) -> CallMetrics {
        CallMetrics(registry: registry, paths: paths)
    }

    struct CallMetrics: Sendable {
        private struct Method: Sendable {
            /// By status code (0...16).
            let calls: [MetricsRegistry.Series]
            let durations: MetricsRegistry.Series
            let label: String
        }

        private let registry: MetricsRegistry
        private let methods: [String: Method]
        private let unknown: Method

        init(registry: MetricsRegistry, paths: [String]) {
            func method(_ label: String) -> Method {
                Method(
                    calls: (0...16).map { registry.series("importd_rpc_requests_total", [label, Status.Code(rawValue: $0).name])! },
                    durations: registry.series("importd_rpc_duration_seconds", [label])!, label: label)
            }
            self.registry = registry
            methods = Dictionary(uniqueKeysWithValues: paths.map { ($0, method($0)) })
            unknown = method("unknown")
        }

        func record(_ call: FinishedCall) {
            let method = call.implemented ? methods[call.path] ?? unknown : unknown
            if method.calls.indices.contains(call.code.rawValue) {
                method.calls[call.code.rawValue].add()
            } else {
                registry.add("importd_rpc_requests_total", [method.label, call.code.name])
            }
            let seconds = Double(call.duration.components.seconds) + Double(call.duration.components.attoseconds) / 1e18
            method.durations.observe(seconds)
        }
    }

    func attach(_ server: GRPCServer) { grpc.withLock { $0 = server } }
    func beginDraining() { draining.store(true, ordering: .relaxed) }

    /// Values read at each scrape: the transport's, the imports', the disk's.
    func collect(importer: Importer, store: any ImportStore, dataDirectory: String, spoolDirectory: String) {
        registry.addCollector { [self] in
            var samples: [MetricsRegistry.Sample] = []
            if let server = grpc.withLock({ $0 }) {
                let stats = server.statistics
                samples += [
                    .init("importd_connections_open", help: "Open client connections.", value: Double(stats.connections)),
                    .init("importd_calls_in_flight", help: "Calls (HTTP/2 streams) open now.", value: Double(stats.streams)),
                    .init("importd_received_bytes_total", help: "Bytes read from clients.", kind: .counter, value: Double(stats.bytesIn)),
                    .init("importd_sent_bytes_total", help: "Bytes written to clients.", kind: .counter, value: Double(stats.bytesOut)),
                    .init("importd_connections_refused_total", help: "Connections closed at once: over --max-connections, or draining.",
                        kind: .counter, value: Double(stats.connectionsRefused)),
                    .init("importd_writers_waiting", help: "Response writers waiting for a slow client.", value: Double(stats.suspendedWriters)),
                ]
                for (limit, count) in stats.limitHits.sorted(by: { $0.key < $1.key }) {
                    samples.append(.init("importd_limit_hits_total", help: "Calls ended or streams refused by a limit, by limit.",
                        kind: .counter, labels: [("limit", limit)], value: Double(count)))
                }
                for (reason, count) in stats.goAways.sorted(by: { $0.key < $1.key }) {
                    samples.append(.init("importd_goaways_total", help: "Connections ended with GOAWAY, by reason (limits and abuse included).",
                        kind: .counter, labels: [("reason", reason)], value: Double(count)))
                }
            }
            if let statistics = try? await store.statistics() {
                for state in ImportState.allCases {
                    samples.append(.init("importd_imports", help: "Imports by state.", labels: [("state", state.description.lowercased())],
                        value: Double(statistics.importsByState[state] ?? 0)))
                }
                for (outcome, count) in statistics.rowsByOutcome.sorted(by: { $0.key < $1.key }) {
                    samples.append(.init("importd_rows", help: "Rows processed over all imports, by outcome.",
                        labels: [("outcome", outcome)], value: Double(count)))
                }
                samples.append(.init("importd_running_import_rows_per_second", help: "Rows per second of the running import since the last scrape.",
                    value: rate(statistics.running)))
            }
            let lag = max(0, Double(importer.clock.now().seconds - (await importer.nextTick).seconds))
            samples += [
                .init("importd_scheduler_lag_seconds", help: "How far the scheduler's next tick is overdue (0 when on time).", value: lag),
                .init("importd_watchers", help: "Open WatchImport and WatchImports streams.", value: Double(importer.hub.subscriberCount)),
                .init("importd_spool_bytes", help: "Bytes of uploaded files kept in the spool.", value: Double(FileSystem.directoryBytes(spoolDirectory))),
                .init("importd_disk_free_bytes", help: "Free bytes on the data directory's file system.",
                    value: Double(FileSystem.freeBytes(dataDirectory) ?? 0)),
            ]
            return samples
        }
    }

    private func rate(_ running: (id: Int64, processedRows: Int64)?) -> Double {
        let now = ContinuousClock.now
        return lastRate.withLock { last in
            defer { last = running.map { ($0.id, $0.processedRows, now) } }
            guard let running, let previous = last, previous.id == running.id else { return 0 }
            let elapsed = now - previous.at
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return seconds > 0 ? Double(running.processedRows - previous.rows) / seconds : 0
        }
    }

    /// The HTTP routes.
    func routes(store: any ImportStore) -> [String: AdminHTTPServer.Route] {
        [
            "/metrics": { [self] in
                AdminHTTPServer.Response(contentType: "text/plain; version=0.0.4; charset=utf-8", body: await registry.render())
            },
            "/healthz": { AdminHTTPServer.Response(body: "ok\n") },
            "/readyz": { [self] in
                if draining.load(ordering: .relaxed) { return AdminHTTPServer.Response(status: 503, body: "draining\n") }
                guard (try? await store.statistics()) != nil else { return AdminHTTPServer.Response(status: 503, body: "the database does not answer\n") }
                return AdminHTTPServer.Response(body: "ready\n")
            },
        ]
    }
}
