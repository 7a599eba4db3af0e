import Platform

/// Reading: imports, rows, summaries, error export, contacts, campaigns,
/// subscriptions, live updates, tokens.
extension Importer {
    public func job(_ publicID: String) async throws -> ImportJob {
        try await existingJob(publicID)
    }

    /// Newest first, filtered by state (empty: all), paged.
    public func jobs(states: Set<ImportState>, pageSize: Int32, pageToken: String) async throws -> (jobs: [ImportJob], nextPageToken: String) {
        let query = "imports:" + states.map { String($0.rawValue) }.sorted().joined(separator: ",")
        let page = try Paging.request(pageSize: pageSize, pageToken: pageToken, query: query)
        let jobs = try await store.importJobs(states: states, beforeID: page.after ?? Int64.max, limit: page.size)
        return (jobs, Paging.nextToken(count: jobs.count, size: page.size, lastKey: jobs.last?.id, query: query))
    }

    /// A row's result with its values as read from the file.
    public struct RowView: Sendable {
        public var record: ImportRowRecord
        public var values: [String]
    }

    /// Row results in row order, filtered by outcome (nil: all), paged; with the
    /// file's header row.
    public func rows(_ publicID: String, outcome: RowOutcome?, pageSize: Int32, pageToken: String) async throws
        -> (header: [String], rows: [RowView], nextPageToken: String)
    {
        let job = try await existingJob(publicID)
        let query = "rows:\(job.id):\(outcome?.rawValue ?? 0)"
        let page = try Paging.request(pageSize: pageSize, pageToken: pageToken, query: query)
        let records = try await store.rows(importID: job.id, outcome: outcome, afterRow: page.after ?? 0, limit: page.size)
        let spool = SpoolRows(path: try await localSpool(job), delimiter: job.delimiter)
        var views = try await readValues(records, spool)
        // A page is bounded in bytes too: rows with long values make it shorter.
        var bytes = 0
        if let cut = views.firstIndex(where: { view in
            bytes += view.values.reduce(64) { $0 + $1.utf8.count + 8 }
            return bytes > Self.maxRowPageBytes
        }), cut > 0 {
            views.removeSubrange(cut...)
            return (job.header, views, Paging.nextToken(count: 1, size: 1, lastKey: views.last?.record.rowNumber, query: query))
        }
        return (job.header, views, Paging.nextToken(count: records.count, size: page.size, lastKey: records.last?.rowNumber, query: query))
    }

    /// The most row values one ListImportRows page carries, in bytes (well under
    /// gRPC's usual 4 MiB message limit); a page ends early to stay below it.
    public static let maxRowPageBytes = 2 << 20

    private func readValues(_ records: [ImportRowRecord], _ spool: SpoolRows) async throws -> [RowView] {
        try await Task.detached {
            try records.map { RowView(record: $0, values: try spool.fields(at: $0.offset)) }
        }.value
    }

    /// Counts of rows by outcome, error code or column.
    public func summary(_ publicID: String, by grouping: RowGrouping) async throws -> [(key: String, count: Int64)] {
        let job = try await existingJob(publicID)
        return try await store.summary(importID: job.id, by: grouping)
    }

    /// The failed rows as CSV, their original columns plus `error`, in chunks of
    /// about 64 KiB. Ready to fix and upload again.
    public func exportErrors(_ publicID: String, chunk: (_ bytes: [UInt8]) async throws -> Void) async throws {
        let job = try await existingJob(publicID)
        let spool = SpoolRows(path: try await localSpool(job), delimiter: job.delimiter)
        var buffer = Array(CSVWriter.line(job.header + ["error"]).utf8)
        var after: Int64 = 0
        while true {
            let records = try await store.rows(importID: job.id, outcome: .failed, afterRow: after, limit: 1000)
            let views = try await readValues(records, spool)
            for view in views {
                let errors = view.record.errors.map { $0.column.isEmpty ? "\($0.code.rawValue): \($0.message)" : "\($0.code.rawValue) (\($0.column)): \($0.message)" }
                let cells = (view.values + [errors.joined(separator: "; ")]).map(CSVWriter.neutralized)
                buffer.append(contentsOf: CSVWriter.line(cells).utf8)
                if buffer.count >= 64 << 10 {
                    try await chunk(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            guard records.count == 1000, let last = records.last else { break }
            after = last.rowNumber
        }
        if !buffer.isEmpty { try await chunk(buffer) }
    }

    public func contact(_ publicID: String) async throws -> ContactRecord {
        guard let id = ResourceKind.contact.parse(publicID) else {
            throw publicID.isEmpty ? ImportError.invalidArgument("contact_id is required", violations: [FieldViolation(field: "contact_id", description: "required")])
                : ImportError.notFound("contact \(publicID) does not exist")
        }
        guard let contact = try await store.contact(id: id) else { throw ImportError.notFound("contact \(publicID) does not exist") }
        return contact
    }

    // MARK: - Campaigns and subscriptions

    /// Creates a campaign or subscription: a name (required, 255 characters at
    /// most) and an optional unique code (64 at most).
    public func createTag(_ kind: TagKind, name: String, code: String) async throws -> AudienceTag {
        let (name, code) = try checkTag(name: name, code: code)
        return try await ImportError.storing { try await store.createTag(kind, name: name, code: code, at: clock.now()) }
    }

    private func checkTag(name: String, code: String) throws(ImportError) -> (String, String?) {
        let name = name.trimmingWhitespace
        let code = code.trimmingWhitespace
        var violations: [FieldViolation] = []
        if name.isEmpty { violations.append(FieldViolation(field: "name", description: "required")) }
        if name.count > 255 { violations.append(FieldViolation(field: "name", description: "longer than 255 characters")) }
        if code.count > 64 { violations.append(FieldViolation(field: "code", description: "longer than 64 characters")) }
        if !violations.isEmpty {
            throw .invalidArgument(violations.map { "\($0.field): \($0.description)" }.joined(separator: "; "), violations: violations)
        }
        return (name, code.isEmpty ? nil : code)
    }

    /// Campaigns or subscriptions, in id order, a page at a time.
    public func tags(_ kind: TagKind, pageSize: Int32, pageToken: String) async throws -> (items: [AudienceTag], nextPageToken: String) {
        let query = kind.noun + "s"
        let page = try Paging.request(pageSize: pageSize, pageToken: pageToken, query: query)
        let items = try await store.tags(kind, afterID: page.after ?? 0, limit: page.size)
        return (items, Paging.nextToken(count: items.count, size: page.size, lastKey: items.last?.id, query: query))
    }

    // MARK: - Live updates

    /// The import now, and a subscription to its changes (subscribed before the
    /// snapshot is read, so nothing is missed; compare `version` to drop stale ones).
    /// `executor`: where its updates are delivered (`ProgressHub.subscribe`).
    public func watch(_ publicID: String, executor: (any TaskExecutor)? = nil) async throws -> (snapshot: ImportJob, updates: ProgressSubscription) {
        let id = try parseImportID(publicID)
        // Subscribed first: whatever is published from here on reaches it, so a
        // snapshot known to the hub is as good as one read from the store.
        let updates = hub.subscribe(importID: id, executor: executor)
        if let known = hub.latest(id) { return (known, updates) }
        // Watches of one import opened together share one read of it.
        let store = self.store
        let hub = self.hub
        let read = watchReads.withLock { reads -> Task<ImportJob?, any Error> in
            if let pending = reads[id] { return pending }
            let task = Task {
                let job = try await store.importJob(id: id)
                if let job { hub.remember(job) }
                return job
            }
            reads[id] = task
            return task
        }
        let found: ImportJob?
        do {
            found = try await read.value
            watchReads.withLock { if $0[id] == read { $0[id] = nil } }
        } catch {
            watchReads.withLock { if $0[id] == read { $0[id] = nil } }
            updates.cancel()
            throw error
        }
        guard let job = found else {
            updates.cancel()
            throw ImportError.notFound("import \(publicID) does not exist")
        }
        return (job, updates)
    }

    /// Every change of every import.
    public func watchAll(executor: (any TaskExecutor)? = nil) -> ProgressSubscription {
        hub.subscribe(importID: nil, executor: executor)
    }

    // MARK: - API tokens

    /// A new token; its secret is returned once and only its hash is kept.
    public func createToken(name: String, scope: TokenScope) async throws -> (token: APIToken, secret: String) {
        let secret = "imt_" + Hex.encode(SecureRandom.bytes(24))
        let token = try await store.createToken(name: name, scope: scope, hash: Importer.tokenHash(secret), at: clock.now())
        return (token, secret)
    }

    /// The live token with this secret, if any.
    public func authenticate(secret: String) async throws -> APIToken? {
        try await store.token(hash: Importer.tokenHash(secret))
    }

    public static func tokenHash(_ secret: String) -> String {
        Platform.SHA256.hex(Array(secret.utf8))
    }
}
