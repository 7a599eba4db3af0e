import ImportEngine
import Logging
import Platform
import ProtoMessages
import RPCCore
import RPCHealth
import RPCReflection
import Synchronization

/// `softrip.marketing.imports.v1.ImportService`: each RPC mapped to the import
/// engine. Domain errors turn into statuses in `ErrorMapping.swift`, nowhere else.
public final class ImportServiceHandler: ImportsV1.ImportService.ServiceProtocol {
    /// Who may use server reflection (grpc.reflection.v1 and v1alpha).
    public enum Reflection: String, Sendable, CaseIterable {
        /// Callers with a `read` token (the default).
        case read
        /// Anyone: the service's shape is not a secret here.
        case `public`
        /// Nobody: UNIMPLEMENTED.
        case off
    }

    let importer: Importer
    let logger: Logger
    /// Ends uploads that stopped sending.
    let idleUploads: UploadWatchdog

    public init(importer: Importer, logger: Logger) {
        self.importer = importer
        self.logger = logger
        self.idleUploads = UploadWatchdog(idleTimeout: importer.configuration.uploadIdleTimeout)
    }

    /// A router with this service, the health service and authentication.
    /// `tokensChanged` (see `TokenAuthenticator`) tells when tokens were
    /// created or revoked by another process.
    public static func router(importer: Importer, health: HealthService, logger: Logger,
                              tokensChanged: (@Sendable () -> UInt64)? = nil, reflection: Reflection = .read) -> RPCRouter {
        var router = RPCRouter()
        ImportServiceHandler(importer: importer, logger: logger).registerRoutes(with: &router)
        health.register(on: &router)
        health.setStatus(.serving, forService: ImportsV1.ImportService.serviceName)
        if reflection != .off { ReflectionService.register(on: &router) }
        router.interceptors = [TokenAuthenticator(importer: importer, tokensChanged: tokensChanged, logger: logger,
                                                  publicReflection: reflection == .public)]
        router.onUnexpectedError = { error, context in
            logger.error("call failed", metadata: ["method": "\(context.method.path)", "request_id": "\(context.requestID)", "error": "\(error)"])
        }
        router.onCallFinished = { call in
            // Health checks (probes every few seconds) would drown the rest: debug level.
            let level: Logger.Level = call.path.hasPrefix("/grpc.health.v1.Health/") && call.code == .ok ? .debug : .info
            // Built only when it is written: a busy server logging at warning
            // would otherwise format a dictionary of strings per call for nothing.
            guard logger.logLevel <= level else { return }
            // No status message: it can quote what a client sent. The code says what happened.
            var metadata: Logger.Metadata = [
                "method": "\(call.path)", "status": "\(call.code.name)", "peer": "\(call.peer)", "request_id": "\(call.requestID)",
                "duration_ms": "\(Double(call.duration.components.attoseconds / 1_000_000_000_000) / 1000 + Double(call.duration.components.seconds) * 1000)",
            ]
            metadata["bytes_in"] = "\(call.bytesIn)"
            metadata["bytes_out"] = "\(call.bytesOut)"
            if let trace = call.traceID { metadata["trace_id"] = "\(trace)" }
            for field in call.fields { metadata[field.key] = "\(field.value)" }
            logger.log(level: level, "call", metadata: metadata)
        }
        return router
    }

    private func wireNow(_ job: ImportJob) -> ImportsV1.ImportJob {
        Wire.job(job, nextRunAt: importer.nextRunAtNow(job))
    }

    // MARK: - Uploads

    public func uploadContacts(requests: RPCAsyncSequence<ImportsV1.UploadContactsRequest>, context: ServerContext) async throws
        -> ImportsV1.ImportJob
    {
        // An upload that stops sending must not hold its session and file forever.
        let activity = UploadActivity(termination: context.termination)
        idleUploads.watch(activity)
        defer { idleUploads.forget(activity) }
        var messages = requests.makeAsyncIterator()
        guard let first = try await messages.next(), case .options(let options)? = first.item else {
            throw ImportError.invalidArgument("the first message of UploadContacts must carry options",
                violations: [FieldViolation(field: "options", description: "required in the first message")])
        }
        let session: UploadSession
        do {
            session = try await importer.beginUpload(try Wire.upload(options))
        } catch {
            logger.info("refused upload \(options.fileName.logQuoted) from \(context.peer): \(LogText.reason(error))")
            throw error
        }
        do {
            while let message = try await messages.next() {
                activity.touch()
                guard case .chunk(let bytes)? = message.item else {
                    throw ImportError.invalidArgument("only the first message may carry options; later ones carry chunks",
                        violations: [FieldViolation(field: "options", description: "sent again")])
                }
                try await session.append(bytes)
            }
            let job = try await session.finish()
            context.logFields.set("import", job.publicID)
            return wireNow(job)
        } catch {
            session.abort()
            logger.info("refused upload \(options.fileName.logQuoted) from \(context.peer) after \(session.bytesReceived) bytes: \(LogText.reason(error))")
            throw error
        }
    }

    // MARK: - Live status

    public func watchImport(request: ImportsV1.WatchImportRequest, response: RPCWriter<ImportsV1.ImportJob>, context: ServerContext) async throws {
        context.logFields.set("import", request.importID)
        let (snapshot, updates) = try await importer.watch(request.importID, executor: response.offerExecutor)
        var parked = false
        defer { if !parked { updates.cancel() } }
        try await response.write(wireNow(snapshot))
        if snapshot.state.isTerminal { return }
        let feed = WatchFeed(importID: snapshot.id, version: snapshot.version, response: response, importer: importer)
        // Writes one update, waiting for room; true when it ends the watch.
        let write: @Sendable (ImportSnapshot) async throws -> Bool = { [wireNow] snapshot in
            // A snapshot published before ours was read can arrive after it.
            guard feed.isNew(snapshot) else { return false }
            feed.record(snapshot)
            try await response.write(snapshot.frame(wireNow))
            return snapshot.job.state.isTerminal
        }
        let shuttingDown = RPCError(code: .unavailable, message: "the server is shutting down; watch again to continue")
        // An idle watch holds no task: the call is parked, and a task starts
        // only for what the feed cannot do (a stream that is behind, the last
        // snapshot, the end), writes what is queued, and parks the call again.
        if let call = response.park() {
            parked = true
            let catchUp: @Sendable () async throws -> Bool = {
                while let snapshot = updates.takeQueued() {
                    if try await write(snapshot) { return true }
                }
                try Task.checkCancellation()
                if updates.isClosed { throw shuttingDown }
                return false
            }
            call.onEnd { updates.cancel() }
            updates.deliverDirectly(to: feed, wake: { call.resume(catchUp) })
            return
        }
        // A transport that cannot park: this task waits for what the feed leaves.
        updates.deliverDirectly(to: feed)
        while let snapshot = await updates.nextSnapshot() {
            if try await write(snapshot) { return }
        }
        try Task.checkCancellation()
        throw shuttingDown
    }

    public func watchImports(request: ImportsV1.WatchImportsRequest, response: RPCWriter<ImportsV1.ImportJob>, context: ServerContext) async throws {
        let filter = try Wire.states(request.states)
        let updates = importer.watchAll(executor: response.offerExecutor)
        defer { updates.cancel() }
        // The snapshot: every import that is still going (QUEUED, RUNNING, PAUSED).
        let feed = WatchFeed(states: filter, response: response, importer: importer)
        var token = ""
        repeat {
            let page = try await importer.jobs(states: [.queued, .running, .paused], pageSize: Int32(Paging.maxSize), pageToken: token)
            for job in page.jobs.reversed() where filter.isEmpty || filter.contains(job.state) {
                feed.record(id: job.id, version: job.version)
                try await response.write(wireNow(job))
            }
            token = page.nextPageToken
        } while !token.isEmpty
        // With no import going there was nothing to send: open the response now.
        try await response.sendHeaders()
        updates.deliverDirectly(to: feed)
        while let snapshot = await updates.nextSnapshot() {
            guard feed.isNew(snapshot) else { continue }
            feed.record(snapshot)
            guard filter.isEmpty || filter.contains(snapshot.job.state) else { continue }
            try await response.write(snapshot.frame(wireNow))
        }
        try Task.checkCancellation()
        throw RPCError(code: .unavailable, message: "the server is shutting down; watch again to continue")
    }

    // MARK: - Imports

    public func getImport(request: ImportsV1.GetImportRequest, context: ServerContext) async throws -> ImportsV1.ImportJob {
        context.logFields.set("import", request.importID)
        return wireNow(try await importer.job(request.importID))
    }

    public func listImports(request: ImportsV1.ListImportsRequest, context: ServerContext) async throws -> ImportsV1.ListImportsResponse {
        let page = try await importer.jobs(states: try Wire.states(request.states), pageSize: request.pageSize, pageToken: request.pageToken)
        var response = ImportsV1.ListImportsResponse()
        for job in page.jobs { response.imports.append(wireNow(job)) }
        response.nextPageToken = page.nextPageToken
        return response
    }

    public func pauseImport(request: ImportsV1.PauseImportRequest, context: ServerContext) async throws -> ImportsV1.ImportJob {
        context.logFields.set("import", request.importID)
        return wireNow(try await importer.pause(request.importID))
    }

    public func resumeImport(request: ImportsV1.ResumeImportRequest, context: ServerContext) async throws -> ImportsV1.ImportJob {
        context.logFields.set("import", request.importID)
        return wireNow(try await importer.resume(request.importID))
    }

    public func cancelImport(request: ImportsV1.CancelImportRequest, context: ServerContext) async throws -> ImportsV1.ImportJob {
        context.logFields.set("import", request.importID)
        return wireNow(try await importer.cancel(request.importID))
    }

    public func revertImport(request: ImportsV1.RevertImportRequest, context: ServerContext) async throws -> ImportsV1.ImportJob {
        context.logFields.set("import", request.importID)
        return wireNow(try await importer.revert(request.importID))
    }

    // MARK: - Rows

    public func listImportRows(request: ImportsV1.ListImportRowsRequest, context: ServerContext) async throws -> ImportsV1.ListImportRowsResponse {
        context.logFields.set("import", request.importID)
        let page = try await importer.rows(request.importID, outcome: try Wire.outcome(request.outcome), pageSize: request.pageSize,
            pageToken: request.pageToken)
        var response = ImportsV1.ListImportRowsResponse()
        response.rows = page.rows.map(Wire.row)
        response.nextPageToken = page.nextPageToken
        response.header = page.header
        return response
    }

    public func summarizeImport(request: ImportsV1.SummarizeImportRequest, context: ServerContext) async throws -> ImportsV1.SummarizeImportResponse {
        context.logFields.set("import", request.importID)
        let groups = try await importer.summary(request.importID, by: try Wire.grouping(request.groupBy))
        var response = ImportsV1.SummarizeImportResponse()
        response.groups = groups.map {
            var group = ImportsV1.SummarizeImportResponse.Group()
            group.key = $0.key
            group.count = UInt64($0.count)
            return group
        }
        return response
    }

    public func exportImportErrors(request: ImportsV1.ExportImportErrorsRequest, response: RPCWriter<ImportsV1.FileChunk>, context: ServerContext) async throws {
        context.logFields.set("import", request.importID)
        try await importer.exportErrors(request.importID) { bytes in
            var chunk = ImportsV1.FileChunk()
            chunk.data = bytes
            try await response.write(chunk)
        }
    }

    // MARK: - Contacts, template, campaigns, subscriptions

    public func getContact(request: ImportsV1.GetContactRequest, context: ServerContext) async throws -> ImportsV1.Contact {
        Wire.contact(try await importer.contact(request.contactID))
    }

    public func getImportTemplate(request: ImportsV1.GetImportTemplateRequest, context: ServerContext) async throws -> ImportsV1.ImportTemplate {
        Self.template
    }

    /// The answer to every GetImportTemplate (the template is fixed), built once.
    private static let template = Wire.template(ImportTemplateSpec.standard)

    public func listCampaigns(request: ImportsV1.ListCampaignsRequest, context: ServerContext) async throws -> ImportsV1.ListCampaignsResponse {
        var response = ImportsV1.ListCampaignsResponse()
        (response.campaigns, response.nextPageToken) = try await tags(.campaign, request.pageSize, request.pageToken)
        return response
    }

    public func listSubscriptions(request: ImportsV1.ListSubscriptionsRequest, context: ServerContext) async throws -> ImportsV1.ListSubscriptionsResponse {
        var response = ImportsV1.ListSubscriptionsResponse()
        (response.subscriptions, response.nextPageToken) = try await tags(.subscription, request.pageSize, request.pageToken)
        return response
    }

    public func createCampaign(request: ImportsV1.CreateCampaignRequest, context: ServerContext) async throws -> ImportsV1.Campaign {
        Wire.tag(try await importer.createTag(.campaign, name: request.name, code: request.code), kind: .campaign)
    }

    public func createSubscription(request: ImportsV1.CreateSubscriptionRequest, context: ServerContext) async throws -> ImportsV1.Subscription {
        Wire.tag(try await importer.createTag(.subscription, name: request.name, code: request.code), kind: .subscription)
    }

    /// A page of campaigns or subscriptions as their wire messages.
    private func tags<Message: TagMessage>(_ kind: TagKind, _ pageSize: Int32, _ pageToken: String) async throws -> ([Message], String) {
        let page = try await importer.tags(kind, pageSize: pageSize, pageToken: pageToken)
        return (page.items.map { Wire.tag($0, kind: kind) }, page.nextPageToken)
    }
}

/// When an upload last sent something.
final class UploadActivity: Sendable {
    private let last = Mutex(ContinuousClock.now)
    /// Ends the upload's call.
    let termination: CallTermination

    init(termination: CallTermination) {
        self.termination = termination
    }

    func touch() { last.withLock { $0 = .now } }

    func idle(longerThan limit: Duration) -> Bool { last.withLock { .now - $0 > limit } }
}

/// Ends uploads that sent nothing for `idleTimeout`: one task for all of them,
/// waking every quarter of the timeout while any upload runs, not a sleeping
/// task per upload. (A cancelled `Task.sleep` keeps its timer until its
/// deadline: a flood of short uploads left thousands of them, about 1.5 KiB
/// each, for up to a quarter of the timeout.)
final class UploadWatchdog: Sendable {
    private struct State {
        var uploads: [ObjectIdentifier: UploadActivity] = [:]
        var running = false
    }

    private let state = Mutex(State())
    private let idleTimeout: Duration

    init(idleTimeout: Duration) {
        self.idleTimeout = idleTimeout
    }

    func watch(_ upload: UploadActivity) {
        let start = state.withLock { state -> Bool in
            state.uploads[ObjectIdentifier(upload)] = upload
            defer { state.running = true }
            return !state.running
        }
        if start { Task { await self.run() } }
    }

    func forget(_ upload: UploadActivity) {
        state.withLock { _ = $0.uploads.removeValue(forKey: ObjectIdentifier(upload)) }
    }

    private func run() async {
        while true {
            try? await Task.sleep(for: idleTimeout / 4)
            let (idle, done) = state.withLock { state -> ([UploadActivity], Bool) in
                let idle = state.uploads.values.filter { $0.idle(longerThan: idleTimeout) }
                for upload in idle { state.uploads[ObjectIdentifier(upload)] = nil }
                // Nothing left to watch: the next upload starts a new task.
                if state.uploads.isEmpty { state.running = false }
                return (idle, !state.running)
            }
            for upload in idle {
                upload.termination.terminate(RPCError(code: .resourceExhausted, message: "the upload sent nothing for \(idleTimeout); it was ended"))
            }
            if done { return }
        }
    }
}

/// A watch's direct deliveries (`ProgressSubscription.deliverDirectly`) and
/// the newest version of each import it has sent or skipped, which its task
/// shares (the two never run at the same time). One object, so an update
/// fanned out to 10,000 watchers touches one object of each for this part. A
/// watch of one import keeps one number; a watch of all imports, one per
/// import.
final class WatchFeed: SnapshotReceiver {
    /// The one import watched, or -1.
    private let singleID: Int64
    private let singleVersion: Atomic<Int64>
    private let versions = Mutex<[Int64: Int64]>([:])
    /// The states a watch of every import wants (empty: all).
    private let states: Set<ImportState>
    private let response: RPCWriter<ImportsV1.ImportJob>
    private let importer: Importer

    /// A watch of one import, which has sent `version` of it.
    init(importID: Int64, version: Int64, response: RPCWriter<ImportsV1.ImportJob>, importer: Importer) {
        singleID = importID
        singleVersion = Atomic(version)
        states = []
        self.response = response
        self.importer = importer
    }

    /// A watch of every import in `states`.
    init(states: Set<ImportState>, response: RPCWriter<ImportsV1.ImportJob>, importer: Importer) {
        singleID = -1
        singleVersion = Atomic(0)
        self.states = states
        self.response = response
        self.importer = importer
    }

    /// Offers the update to the stream; false has it queued for the watch's
    /// task: the stream is behind, or (watching one import) it ends the watch.
    func receive(_ snapshot: ImportSnapshot) -> Bool {
        guard isNew(snapshot) else { return true }
        let state = snapshot.job.state
        if singleID >= 0 {
            if state.isTerminal { return false }
        } else if !states.isEmpty && !states.contains(state) {
            record(snapshot)
            return true
        }
        guard response.offer(snapshot.frame({ [importer] in Wire.job($0, nextRunAt: importer.nextRunAtNow($0)) })) else { return false }
        record(snapshot)
        return true
    }

    /// Whether the snapshot is newer than what was sent of its import.
    func isNew(_ snapshot: ImportSnapshot) -> Bool {
        let (id, version) = (snapshot.job.id, snapshot.job.version)
        if id == singleID { return version > singleVersion.load(ordering: .relaxed) }
        return versions.withLock { version > $0[id, default: 0] }
    }

    func record(_ snapshot: ImportSnapshot) {
        record(id: snapshot.job.id, version: snapshot.job.version)
    }

    func record(id: Int64, version: Int64) {
        if id == singleID {
            singleVersion.store(max(version, singleVersion.load(ordering: .relaxed)), ordering: .relaxed)
            return
        }
        versions.withLock { $0[id] = max(version, $0[id, default: 0]) }
    }
}
