import H2Transport
import Platform
import ProtoMessages
import RPCCore

/// A client of one importd (`softrip.marketing.imports.v1.ImportService`) for
/// Swift services: stream uploads, follow imports, read results. What importctl
/// is built on.
///
/// Unary calls have a deadline (`Configuration.unaryTimeout`, 30 s); calls that
/// only read are retried with backoff while the server is UNAVAILABLE; watches
/// reconnect after a lost connection and go on from a fresh snapshot. Every
/// failure is an `ImportClientError` (status code, message, field violations).
/// Close the client when done.
public final class ImportClient: Sendable {
    public struct Configuration: Sendable {
        /// TLS (ALPN h2); nil: h2c.
        public var tls: TLSClientConfiguration?
        /// Send uploads gzip-compressed (a CSV shrinks 4-5x: for networks, not loopback).
        public var compression = false
        public var connectTimeout: Duration = .seconds(10)
        public var unaryTimeout: Duration = .seconds(30)
        public var exportTimeout: Duration = .seconds(300)
        /// Attempts of a reading call while the server is UNAVAILABLE (backoff from 250 ms).
        public var retryAttempts = 4
        /// How long a watch keeps reconnecting after it lost its connection.
        public var reconnectPatience: Duration = .seconds(300)
        /// Pings a quiet server while calls are open (importd permits one a minute).
        public var keepalive: ClientKeepalive? = ClientKeepalive(time: .seconds(120), timeout: .seconds(20))

        public init() {}
    }

    /// What a watch tells besides snapshots.
    public enum WatchEvent: Sendable {
        /// The connection was lost (a server restart or drain); reconnecting.
        case connectionLost(ImportClientError)
        /// Watching again, from a fresh snapshot.
        case reconnected
    }

    /// "host:port".
    public let address: String
    public let configuration: Configuration
    private let channel: GRPCChannel
    private let service: ImportsV1.ImportService.Client

    public init(host: String, port: Int, token: String?, configuration: Configuration = Configuration()) {
        self.address = HostPort(host: host, port: port).description
        self.configuration = configuration
        channel = GRPCChannel(
            host: host, port: port, tls: configuration.tls, connectTimeout: configuration.connectTimeout, keepalive: configuration.keepalive)
        var metadata = Metadata()
        if let token, !token.isEmpty { metadata.add("authorization", "Bearer " + token.trimmingWhitespace) }
        service = ImportsV1.ImportService.Client(RPCClient(transport: channel, defaultMetadata: metadata))
    }

    /// A client of `address` ("host:port"); nil when it is not one.
    public convenience init?(address: String, token: String?, configuration: Configuration = Configuration()) {
        guard let hostPort = HostPort(address) else { return nil }
        self.init(host: hostPort.host, port: hostPort.port, token: token, configuration: configuration)
    }

    /// Closes the connection; calls in progress fail.
    public func close() async {
        await channel.close()
    }

    // MARK: - Plumbing

    private var unaryOptions: CallOptions { CallOptions(timeout: configuration.unaryTimeout) }

    /// A unary call; `reading` ones are retried while the server is UNAVAILABLE.
    private func unary<T: Sendable>(reading: Bool, _ call: (CallOptions) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await call(unaryOptions)
            } catch let error as RPCError where reading && error.code == .unavailable && attempt + 1 < configuration.retryAttempts {
                try await Task.sleep(for: .milliseconds(250 << attempt))
                attempt += 1
            } catch let error as RPCError {
                throw ImportClientError(error)
            }
        }
    }

    // MARK: - Uploads

    /// Streams the CSV file at `path` (256 KiB at a time, with its SHA-256,
    /// which the server checks) and returns the QUEUED import. `options.fileName`
    /// defaults to the file's name. `progress` is told the bytes sent so far.
    public func upload(
        file path: String, options: ImportsV1.UploadOptions, chunkSize: Int = 256 << 10,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> ImportsV1.ImportJob {
        var options = options
        if options.fileName.isEmpty { options.fileName = String(path.split(separator: "/").last ?? Substring(path)) }
        if options.sha256.isEmpty { options.sha256 = try Self.sha256(of: path) }
        let first = options
        return try await upload(options: first) { writer in
            let reader = try FileReader(path: path)
            var buffer: [UInt8] = []
            var sent: Int64 = 0
            while true {
                buffer.removeAll(keepingCapacity: true)
                guard try reader.read(into: &buffer, maxCount: chunkSize) > 0 else { break }
                try await writer(buffer)
                sent += Int64(buffer.count)
                progress?(sent)
            }
        }
    }

    /// Streams chunks of a CSV file that `chunks` writes (e.g. from a network
    /// source) and returns the QUEUED import.
    public func upload(
        options: ImportsV1.UploadOptions, chunks: @escaping @Sendable (_ write: @Sendable ([UInt8]) async throws -> Void) async throws -> Void
    ) async throws -> ImportsV1.ImportJob {
        let callOptions = CallOptions(compression: configuration.compression ? .gzip : .identity)
        return try await converting {
            try await service.uploadContacts(options: callOptions) { writer in
                var first = ImportsV1.UploadContactsRequest()
                first.item = .options(options)
                try await writer.write(first)
                try await chunks { bytes in
                    var chunk = ImportsV1.UploadContactsRequest()
                    chunk.item = .chunk(bytes)
                    try await writer.write(chunk)
                }
            }
        }
    }

    /// The hex SHA-256 of a file, read 1 MiB at a time.
    public static func sha256(of path: String) throws -> String {
        let reader = try FileReader(path: path)
        let hasher = Platform.SHA256()
        var buffer: [UInt8] = []
        while true {
            buffer.removeAll(keepingCapacity: true)
            guard try reader.read(into: &buffer, maxCount: 1 << 20) > 0 else { break }
            hasher.update(buffer)
        }
        return Hex.encode(hasher.finalize())
    }

    // MARK: - Following imports

    /// The import's snapshots: now, then every change, until it ends (the last
    /// is COMPLETED, FAILED, CANCELLED or REVERTED). A lost connection is
    /// retried (`events` hears of it) and the watch goes on from a fresh
    /// snapshot. A reader that falls behind gets the newest snapshots.
    public func watch(_ id: String, reconnect: Bool = true, events: (@Sendable (WatchEvent) -> Void)? = nil)
        -> AsyncThrowingStream<ImportsV1.ImportJob, any Error>
    {
        var request = ImportsV1.WatchImportRequest()
        request.importID = id
        return following(reconnect: reconnect, events: events, endsAtTerminal: true) { [service, request] yield in
            try await service.watchImport(request) { updates in
                for try await job in updates { yield(job) }
            }
        }
    }

    /// Every import: those still going first, then each change, until the
    /// iteration stops. Reconnects like `watch`.
    public func watchAll(states: [ImportsV1.ImportState] = [], reconnect: Bool = true, events: (@Sendable (WatchEvent) -> Void)? = nil)
        -> AsyncThrowingStream<ImportsV1.ImportJob, any Error>
    {
        var request = ImportsV1.WatchImportsRequest()
        request.states = states
        return following(reconnect: reconnect, events: events, endsAtTerminal: false) { [service, request] yield in
            try await service.watchImports(request) { updates in
                for try await job in updates { yield(job) }
            }
        }
    }

    private func following(
        reconnect: Bool, events: (@Sendable (WatchEvent) -> Void)?, endsAtTerminal: Bool,
        _ stream: @escaping @Sendable (_ yield: @Sendable (ImportsV1.ImportJob) -> Void) async throws -> Void
    ) -> AsyncThrowingStream<ImportsV1.ImportJob, any Error> {
        let patience = configuration.reconnectPatience
        let (output, continuation) = AsyncThrowingStream.makeStream(of: ImportsV1.ImportJob.self, bufferingPolicy: .bufferingNewest(256))
        let task = Task {
            let state = WatchState()
            var delay = Duration.milliseconds(500)
            while true {
                do {
                    try await stream { job in
                        if state.received() { events?(.reconnected) }
                        continuation.yield(job)
                        if endsAtTerminal && job.state.isTerminal { state.ended = true }
                    }
                    continuation.finish()
                    return
                } catch let error as RPCError where reconnect && error.code == .unavailable && state.everReceived && !state.ended {
                    let lost = state.lost()
                    if lost.first { events?(.connectionLost(ImportClientError(error))) }
                    if ContinuousClock.now - lost.since > patience {
                        continuation.finish(throwing: ImportClientError(error))
                        return
                    }
                    if lost.first { delay = .milliseconds(500) }
                    do { try await Task.sleep(for: delay) } catch {
                        continuation.finish(throwing: ImportClientError(code: .cancelled, message: "the watch was cancelled"))
                        return
                    }
                    delay = min(delay * 2, .seconds(5))
                } catch let error as RPCError {
                    continuation.finish(throwing: state.ended ? nil : ImportClientError(error))
                    return
                } catch {
                    continuation.finish(throwing: error)
                    return
                }
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return output
    }

    /// One snapshot of an import.
    public func get(_ id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.GetImportRequest()
        request.importID = id
        return try await unary(reading: true) { try await service.getImport(request, options: $0) }
    }

    /// One page of imports, newest first.
    public func importsPage(states: [ImportsV1.ImportState] = [], pageSize: Int32 = 100, pageToken: String = "") async throws
        -> ImportsV1.ListImportsResponse
    {
        var request = ImportsV1.ListImportsRequest()
        request.states = states
        request.pageSize = pageSize
        request.pageToken = pageToken
        return try await unary(reading: true) { try await service.listImports(request, options: $0) }
    }

    /// Every import, newest first, fetched a page at a time as it is iterated.
    public func imports(states: [ImportsV1.ImportState] = []) -> Pages<ImportsV1.ImportJob> {
        Pages { token in
            let page = try await self.importsPage(states: states, pageToken: token)
            return (page.imports, page.nextPageToken)
        }
    }

    public func pause(_ id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.PauseImportRequest()
        request.importID = id
        return try await unary(reading: false) { try await service.pauseImport(request, options: $0) }
    }

    public func resume(_ id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.ResumeImportRequest()
        request.importID = id
        return try await unary(reading: false) { try await service.resumeImport(request, options: $0) }
    }

    public func cancel(_ id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.CancelImportRequest()
        request.importID = id
        return try await unary(reading: false) { try await service.cancelImport(request, options: $0) }
    }

    public func revert(_ id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.RevertImportRequest()
        request.importID = id
        return try await unary(reading: false) { try await service.revertImport(request, options: $0) }
    }

    // MARK: - Results

    /// One page of per-row results (optionally of one outcome).
    public func rowsPage(_ id: String, outcome: ImportsV1.RowOutcome = .unspecified, pageSize: Int32 = 500, pageToken: String = "")
        async throws -> ImportsV1.ListImportRowsResponse
    {
        var request = ImportsV1.ListImportRowsRequest()
        request.importID = id
        request.outcome = outcome
        request.pageSize = pageSize
        request.pageToken = pageToken
        return try await unary(reading: true) { try await service.listImportRows(request, options: $0) }
    }

    /// Every row result (optionally of one outcome), a page at a time as it is iterated.
    public func rows(_ id: String, outcome: ImportsV1.RowOutcome = .unspecified) -> Pages<ImportsV1.ImportRow> {
        Pages { token in
            let page = try await self.rowsPage(id, outcome: outcome, pageToken: token)
            return (page.rows, page.nextPageToken)
        }
    }

    /// Row counts grouped by outcome, error code or column.
    public func summary(_ id: String, groupBy: ImportsV1.GroupBy) async throws -> [ImportsV1.SummarizeImportResponse.Group] {
        var request = ImportsV1.SummarizeImportRequest()
        request.importID = id
        request.groupBy = groupBy
        return try await unary(reading: true) { try await service.summarizeImport(request, options: $0) }.groups
    }

    /// The failed rows as CSV (the file's columns and an `error` column), in
    /// chunks handed to `body` as they arrive.
    public func exportErrors(_ id: String, _ body: ([UInt8]) async throws -> Void) async throws {
        var request = ImportsV1.ExportImportErrorsRequest()
        request.importID = id
        try await converting {
            try await service.exportImportErrors(request, options: CallOptions(timeout: configuration.exportTimeout)) { chunks in
                for try await chunk in chunks { try await body(chunk.data) }
            }
        }
    }

    /// A contact's profile.
    public func contact(_ id: String) async throws -> ImportsV1.Contact {
        var request = ImportsV1.GetContactRequest()
        request.contactID = id
        return try await unary(reading: true) { try await service.getContact(request, options: $0) }
    }

    /// The header template: every field, one example row.
    public func template() async throws -> ImportsV1.ImportTemplate {
        try await unary(reading: true) { try await service.getImportTemplate(ImportsV1.GetImportTemplateRequest(), options: $0) }
    }

    // MARK: - Campaigns and subscriptions

    public func campaignsPage(pageSize: Int32 = 100, pageToken: String = "") async throws -> ImportsV1.ListCampaignsResponse {
        var request = ImportsV1.ListCampaignsRequest()
        request.pageSize = pageSize
        request.pageToken = pageToken
        return try await unary(reading: true) { try await service.listCampaigns(request, options: $0) }
    }

    public func subscriptionsPage(pageSize: Int32 = 100, pageToken: String = "") async throws -> ImportsV1.ListSubscriptionsResponse {
        var request = ImportsV1.ListSubscriptionsRequest()
        request.pageSize = pageSize
        request.pageToken = pageToken
        return try await unary(reading: true) { try await service.listSubscriptions(request, options: $0) }
    }

    /// Every campaign, a page at a time as it is iterated.
    public func campaigns() -> Pages<ImportsV1.Campaign> {
        Pages { token in
            let page = try await self.campaignsPage(pageToken: token)
            return (page.campaigns, page.nextPageToken)
        }
    }

    /// Every subscription, a page at a time as it is iterated.
    public func subscriptions() -> Pages<ImportsV1.Subscription> {
        Pages { token in
            let page = try await self.subscriptionsPage(pageToken: token)
            return (page.subscriptions, page.nextPageToken)
        }
    }

    /// Creates a campaign (needs an admin token).
    public func createCampaign(name: String, code: String = "") async throws -> ImportsV1.Campaign {
        var request = ImportsV1.CreateCampaignRequest()
        request.name = name
        request.code = code
        return try await unary(reading: false) { try await service.createCampaign(request, options: $0) }
    }

    /// Creates a subscription (needs an admin token).
    public func createSubscription(name: String, code: String = "") async throws -> ImportsV1.Subscription {
        var request = ImportsV1.CreateSubscriptionRequest()
        request.name = name
        request.code = code
        return try await unary(reading: false) { try await service.createSubscription(request, options: $0) }
    }
}

/// A watch's bookkeeping across reconnects.
private final class WatchState: @unchecked Sendable {
    // @unchecked: used by one task at a time (the watch's), in order.
    var everReceived = false
    var ended = false
    private var lostSince: ContinuousClock.Instant?

    /// A snapshot arrived; true when it is the first after a lost connection.
    func received() -> Bool {
        everReceived = true
        defer { lostSince = nil }
        return lostSince != nil
    }

    /// The connection was lost: since when, and whether this is the first time in a row.
    func lost() -> (since: ContinuousClock.Instant, first: Bool) {
        if let lostSince { return (lostSince, false) }
        let now = ContinuousClock.now
        lostSince = now
        return (now, true)
    }
}

extension ImportsV1.ImportState {
    /// COMPLETED, FAILED, CANCELLED or REVERTED: nothing more will happen.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled, .reverted: return true
        default: return false
        }
    }
}
