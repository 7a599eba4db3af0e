import ImportEngine
import Platform
import PostgresDB
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the PostgreSQL store connects and shares the work with other replicas.
public struct PostgresStoreConfiguration: Sendable {
    /// A libpq connection URI or key=value string.
    public var conninfo: String
    /// Connections this process opens at most (besides one for LISTEN).
    public var connections = 8
    /// How long a run's claim lasts unless renewed (a run renews it with every
    /// batch and every `ImporterConfiguration.claimRenewal`); a replica that dies
    /// holds its import this long before another takes it over.
    public var lease: Duration = .seconds(15)
    /// This process's name in `lease_owner`: unique among replicas.
    public var replica: String

    public init(conninfo: String) {
        self.conninfo = conninfo
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        replica = "\(name):\(getpid()):\(Hex.encode(SecureRandom.bytes(4)))"
    }
}

/// How batches were decided: written as if every key were new, or after
/// looking their keys up (`PostgresImportStore.applyBatch`).
public struct BatchPaths: Sendable, Equatable {
    /// Batches written whole as new contacts, with no look-up.
    public var writtenAsNew = 0
    /// Batches first written as new that met a stored key, rolled back to
    /// their savepoint and decided again with the look-up (also in `lookedUp`).
    public var guessedWrong = 0
    /// Batches decided after looking their keys up.
    public var lookedUp = 0

    public init(writtenAsNew: Int = 0, guessedWrong: Int = 0, lookedUp: Int = 0) {
        self.writtenAsNew = writtenAsNew
        self.guessedWrong = guessedWrong
        self.lookedUp = lookedUp
    }
}

/// `ImportStore` on PostgreSQL, for several importd replicas on one database:
/// runs are claimed with leases, control and progress travel through the
/// database (`requested_state`, `NOTIFY`), uploads are kept in `spool_pages`,
/// and the dedup keys are unique in the database itself (see `PostgresSchema`).
public final class PostgresImportStore: ImportStore {
    let pool: PGPool
    let replica: String
    /// The lease as an SQL interval literal (`15 seconds`).
    let leaseInterval: String
    private let listener: ChangeListener
    /// Uploads whose pages were all written as they arrived, with their count.
    let completedSpools = Mutex<[String: Int64]>([:])
    /// Imports whose last batch here met a stored key (see `applyBatch`):
    /// at most 256, cleared when full.
    let lastBatchFoundKeys = Mutex<[Int64: Bool]>([:])
    let paths = Mutex(BatchPaths())

    /// How this process's batches were decided so far (see `applyBatch`).
    public var batchPaths: BatchPaths { paths.withLock { $0 } }

    static let channel = "importd_imports"

    /// The connection string this store uses.
    public var conninfo: String { pool.conninfo }

    /// Connects, and migrates the schema (once, under an advisory lock, however
    /// many replicas start together).
    public init(_ configuration: PostgresStoreConfiguration) throws {
        let setup: @Sendable (PGConnection) throws -> Void = { connection in
            // A batch's merged contacts go through here (see PostgresBatch).
            try connection.execute("""
                CREATE TEMP TABLE IF NOT EXISTS merge_stage (LIKE contacts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
                """)
            try connection.execute("SET synchronous_commit = on")
            // No JIT: a batch's statements are short, and a plan that reads the
            // staging table costs 10^10 under `enable_seqscan = off` (see
            // PostgresBatch), far past `jit_above_cost`: compiling it took 130 ms
            // of a 10,000-row merge's 280 (EXPLAIN ANALYZE, PostgreSQL 15).
            try connection.execute("SET jit = off")
        }
        let first = try PGConnection(configuration.conninfo)
        try PGMigrator.migrate(first, PostgresSchema.migrations)
        pool = PGPool(configuration.conninfo, size: configuration.connections, setup: setup)
        replica = configuration.replica
        let micro = configuration.lease.components.seconds * 1_000_000 + configuration.lease.components.attoseconds / 1_000_000_000_000
        leaseInterval = "\(micro) microseconds"
        listener = ChangeListener(conninfo: configuration.conninfo, channel: Self.channel, replica: configuration.replica)
    }

    deinit {
        listener.stop()
    }

    /// Closes the connections and ends `changes()` streams.
    public func close() {
        listener.stop()
        pool.close()
    }

    /// Runs `body` with a pooled connection; PostgreSQL's "disk full" becomes
    /// `StoreError.diskFull`.
    func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        do {
            return try await pool.run(body)
        } catch let error as PGError where error.sqlState == "53100" {
            throw StoreError.diskFull
        }
    }

    /// Tells the other replicas that import `id` changed (delivered at commit).
    func notify(_ db: PGConnection, _ id: Int64) throws {
        try db.execute("SELECT pg_notify($1, $2)", [.text(Self.channel), .text("\(replica) \(id)")])
    }

    // MARK: - Campaigns and subscriptions

    static func table(_ kind: TagKind) -> String { kind == .campaign ? "campaigns" : "subscriptions" }

    static func readTag(_ r: PGResult, _ row: Int) -> AudienceTag {
        AudienceTag(id: r.int(row, 0) ?? 0, name: r.text(row, 1) ?? "", code: r.text(row, 2), createdAt: WallTime(microseconds: r.int(row, 3) ?? 0))
    }

    public func createTag(_ kind: TagKind, name: String, code: String?, at: WallTime) async throws -> AudienceTag {
        try await run { db in
            do {
                let r = try db.execute("INSERT INTO \(Self.table(kind)) (name, code, created_at) VALUES ($1, $2, $3) RETURNING id",
                                       [.text(name), code.map { .text($0) } ?? .null, .int(at.microseconds)])
                return AudienceTag(id: r.int(0, 0) ?? 0, name: name, code: code, createdAt: at)
            } catch let error as PGError where error.isUniqueViolation {
                throw StoreError.duplicate("a \(kind.noun) with code \"\(code ?? "")\"")
            }
        }
    }

    public func tag(_ kind: TagKind, id: Int64) async throws -> AudienceTag? {
        try await run { db in
            let r = try db.execute("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE id = $1", [.int(id)])
            return r.count == 0 ? nil : Self.readTag(r, 0)
        }
    }

    public func tag(_ kind: TagKind, code: String) async throws -> AudienceTag? {
        try await run { db in
            let r = try db.execute("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE code = $1", [.text(code)])
            return r.count == 0 ? nil : Self.readTag(r, 0)
        }
    }

    public func tags(_ kind: TagKind, afterID: Int64, limit: Int) async throws -> [AudienceTag] {
        try await run { db in
            let r = try db.execute("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE id > $1 ORDER BY id LIMIT $2",
                                   [.int(afterID), .int(Int64(limit))])
            return (0..<r.count).map { Self.readTag(r, $0) }
        }
    }

    // MARK: - Imports

    static let importColumns = """
        id, state, version, file_name, kind, origin_campaign_id, subscription_ids, on_duplicate, column_map,
        ignore_unknown_columns, validate_only, encoding, sha256, bytes, total_rows, processed_rows, created, updated,
        skipped, failed, error, created_at, started_at, finished_at, updated_at, reverted_rows, revert_kept_rows,
        spool_name, header, delimiter, data_offset, checkpoint_offset, checkpoint_row, same_file_as, kind_explicit, requested_state
        """

    static func readJob(_ r: PGResult, _ i: Int) -> ImportJob {
        let int = { (column: Int) in r.int(i, column) ?? 0 }
        var job = ImportJob(id: int(0), state: ImportState(rawValue: Int(int(1))) ?? .failed, NewImport(
            fileName: r.text(i, 3) ?? "", kind: ContactKind(rawValue: Int(int(4))) ?? .contact, kindExplicit: r.bool(i, 34) ?? true,
            originCampaignID: r.int(i, 5), subscriptionIDs: StoreCodec.ids(r.text(i, 6) ?? ""),
            onDuplicate: DuplicatePolicy(rawValue: Int(int(7))) ?? .update, columnMap: StoreCodec.map(r.text(i, 8) ?? ""),
            ignoreUnknownColumns: r.bool(i, 9) ?? false, validateOnly: r.bool(i, 10) ?? false,
            encoding: TextEncoding(rawValue: r.text(i, 11) ?? "") ?? .utf8, sha256: r.text(i, 12) ?? "", bytes: int(13),
            totalRows: int(14), spoolName: r.text(i, 27) ?? "", header: StoreCodec.list(r.text(i, 28) ?? ""),
            delimiter: UInt8(truncatingIfNeeded: int(29)), dataOffset: int(30), createdAt: WallTime(microseconds: int(21))))
        job.updatedAt = WallTime(microseconds: int(24))
        job.checkpointOffset = int(31)
        job.checkpointRow = int(32)
        job.version = int(2)
        job.processedRows = int(15)
        job.created = int(16)
        job.updated = int(17)
        job.skipped = int(18)
        job.failed = int(19)
        job.error = r.text(i, 20)
        job.startedAt = r.int(i, 22).map(WallTime.init(microseconds:))
        job.finishedAt = r.int(i, 23).map(WallTime.init(microseconds:))
        job.revertedRows = int(25)
        job.revertKeptRows = int(26)
        job.sameFileAs = r.int(i, 33)
        switch r.int(i, 35).flatMap({ ImportState(rawValue: Int($0)) }) {
        case .paused?: job.stopRequested = .pause
        case .cancelled?: job.stopRequested = .cancel
        default: job.stopRequested = nil
        }
        return job
    }

    static func job(_ db: PGConnection, _ id: Int64, forUpdate: Bool = false) throws -> ImportJob? {
        let r = try db.execute("SELECT \(importColumns) FROM imports WHERE id = $1\(forUpdate ? " FOR UPDATE" : "")", [.int(id)])
        return r.count == 0 ? nil : readJob(r, 0)
    }

    /// The import, once every page of its upload is stored (`spoolPages`,
    /// checked in the same transaction): a replica that sees the import can
    /// read the whole file.
    public func createImport(_ new: NewImport) async throws -> ImportJob {
        try await run { db in
            try db.transaction {
                let r = try db.execute("""
                    INSERT INTO imports (state, file_name, kind, origin_campaign_id, subscription_ids, on_duplicate, column_map,
                        ignore_unknown_columns, validate_only, encoding, sha256, bytes, total_rows, created_at, updated_at,
                        spool_name, header, delimiter, data_offset, checkpoint_offset, kind_explicit, same_file_as)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, $18, $18, $19,
                        (SELECT max(id) FROM imports WHERE sha256 = $11))
                    RETURNING \(Self.importColumns)
                    """, [
                        .int(Int64(ImportState.queued.rawValue)), .text(new.fileName), .int(Int64(new.kind.rawValue)),
                        new.originCampaignID.map { .int($0) } ?? .null, .text(StoreCodec.ids(new.subscriptionIDs)),
                        .int(Int64(new.onDuplicate.rawValue)), .text(StoreCodec.map(new.columnMap)), .bool(new.ignoreUnknownColumns),
                        .bool(new.validateOnly), .text(new.encoding.rawValue), .text(new.sha256), .int(new.bytes), .int(new.totalRows),
                        .int(new.createdAt.microseconds), .text(new.spoolName), .text(StoreCodec.list(new.header)),
                        .int(Int64(new.delimiter)), .int(new.dataOffset), .bool(new.kindExplicit),
                    ])
                let job = Self.readJob(r, 0)
                if let pages = self.completedSpools.withLock({ $0.removeValue(forKey: new.spoolName) }) {
                    // Written as the upload arrived: all of them must be there.
                    let stored = try db.execute("SELECT count(*) FROM spool_pages WHERE spool_name = $1", [.text(new.spoolName)])
                    guard stored.int(0, 0) == pages else {
                        throw PGError(sqlState: nil, message: "the upload's pages are incomplete (\(stored.int(0, 0) ?? 0) of \(pages))")
                    }
                }
                try self.notify(db, job.id)
                return job
            }
        }
    }

    public func spoolPages(name: String) -> (any SpoolPageSink)? {
        SpoolPages(store: self, name: name)
    }

    /// Pages of an upload, written as it arrives (one statement a page, each
    /// its own transaction: an upload holds no transaction open).
    struct SpoolPages: SpoolPageSink {
        let store: PostgresImportStore
        let name: String

        var pageBytes: Int { PostgresSchema.spoolPageBytes }

        func write(page: Int64, bytes: [UInt8]) async throws {
            let name = self.name
            _ = try await store.run { db in
                try db.execute("INSERT INTO spool_pages (spool_name, page, data) VALUES ($1, $2, $3)", [.text(name), .int(page), .bytes(bytes)])
                    .affectedRows
            }
        }

        func complete(pages: Int64) {
            store.completedSpools.withLock { $0[name] = pages }
        }

        func discard() async {
            let name = self.name
            store.completedSpools.withLock { _ = $0.removeValue(forKey: name) }
            _ = try? await store.run { db in
                try db.execute("DELETE FROM spool_pages WHERE spool_name = $1 AND NOT EXISTS (SELECT 1 FROM imports WHERE spool_name = $1)",
                               [.text(name)]).affectedRows
            }
        }
    }

    public func fetchSpool(name: String, into directory: String) async throws -> Bool {
        let writer = try DurableFileWriter(directory: directory, name: "fetch-\(Hex.encode(SecureRandom.bytes(6))).part")
        var page: Int64 = 0
        do {
            while true {
                let start = page
                let pages = try await run { db -> [[UInt8]] in
                    let r = try db.execute("SELECT data FROM spool_pages WHERE spool_name = $1 AND page >= $2 ORDER BY page LIMIT 8",
                                           [.text(name), .int(start)])
                    return (0..<r.count).map { r.bytes($0, 0) ?? [] }
                }
                if pages.isEmpty { break }
                for bytes in pages { try writer.write(bytes) }
                page += Int64(pages.count)
            }
            guard page > 0 else {
                writer.abort()
                return false
            }
            try writer.commit(as: name)
            return true
        } catch {
            writer.abort()
            throw error
        }
    }

    public func importJob(id: Int64) async throws -> ImportJob? {
        try await run { db in try Self.job(db, id) }
    }

    public func importJobs(states: Set<ImportState>, beforeID: Int64, limit: Int) async throws -> [ImportJob] {
        try await run { db in
            let filter = states.isEmpty ? "" : "AND state IN (\(states.map { String($0.rawValue) }.sorted().joined(separator: ",")))"
            let r = try db.execute("SELECT \(Self.importColumns) FROM imports WHERE id < $1 \(filter) ORDER BY id DESC LIMIT $2",
                                   [.int(beforeID), .int(Int64(limit))])
            return (0..<r.count).map { Self.readJob(r, $0) }
        }
    }

    public func importIDs(in state: ImportState) async throws -> [Int64] {
        try await run { db in
            let r = try db.execute("SELECT id FROM imports WHERE state = $1 ORDER BY id", [.int(Int64(state.rawValue))])
            return (0..<r.count).compactMap { r.int($0, 0) }
        }
    }

    public func transition(id: Int64, event: ImportEvent, error: String?, at: WallTime) async throws -> Transition {
        try await run { db in
            try db.transaction { try self.transition(db, id: id, event: event, error: error, at: at) }
        }
    }

    /// The one place an import's state is written: the lifecycle decides. A
    /// RUNNING import another live replica holds is left to it (`claimLost`):
    /// it is asked to stop through `requestStop` instead.
    func transition(_ db: PGConnection, id: Int64, event: ImportEvent, error: String?, at: WallTime) throws -> Transition {
        let r = try db.execute("""
            SELECT \(Self.importColumns), lease_owner, lease_until IS NOT NULL AND lease_until >= now()
            FROM imports WHERE id = $1 FOR UPDATE
            """, [.int(id)])
        guard r.count == 1 else { throw StoreError.notFound(id) }
        let job = Self.readJob(r, 0)
        let owner = r.text(0, 36)
        let live = r.bool(0, 37) ?? false
        let next = try ImportLifecycle.next(job.state, on: event)
        guard next != job.state else { return Transition(job: job, changed: false) }
        if job.state == .running, let owner, owner != replica, live || event == .complete || event == .fail {
            throw StoreError.claimLost(id)
        }
        var sets = event == .resume ? "state = $1, version = version + 1, updated_at = $2, error = $3"
            : "state = $1, version = version + 1, updated_at = $2, error = COALESCE($3, error)"
        if next == .running {
            sets += ", started_at = COALESCE(started_at, $2), lease_owner = $5, lease_until = now() + interval '\(leaseInterval)'"
        } else {
            sets += ", lease_owner = NULL, lease_until = NULL, requested_state = NULL"
        }
        if next.isTerminal && next != .reverted {
            sets += ", finished_at = $2"
        }
        let updated = try db.execute("UPDATE imports SET \(sets) WHERE id = $4 RETURNING \(Self.importColumns)", [
            .int(Int64(next.rawValue)), .int(at.microseconds), error.map { .text($0) } ?? .null, .int(id),
        ] + (next == .running ? [.text(replica)] : []))
        try notify(db, id)
        return Transition(job: Self.readJob(updated, 0), changed: true)
    }

    public func spoolNames() async throws -> Set<String> {
        try await run { db in
            let r = try db.execute("SELECT spool_name FROM imports")
            return Set((0..<r.count).compactMap { r.text($0, 0) })
        }
    }

    // MARK: - Runs shared between replicas

    public func claim(id: Int64, at: WallTime) async throws -> ImportJob? {
        try await run { db in
            try db.transaction {
                // SKIP LOCKED: replicas ticking together each take a different import.
                let r = try db.execute("""
                    SELECT state FROM imports WHERE id = $1
                        AND (state = $2 OR (state = $3 AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $4)))
                    FOR UPDATE SKIP LOCKED
                    """, [.int(id), .int(Int64(ImportState.queued.rawValue)), .int(Int64(ImportState.running.rawValue)), .text(self.replica)])
                guard r.count == 1 else { return nil }
                let updated = try db.execute("""
                    UPDATE imports SET state = $2, version = version + 1, updated_at = $3, started_at = COALESCE(started_at, $3),
                        lease_owner = $4, lease_until = now() + interval '\(self.leaseInterval)'
                    WHERE id = $1 RETURNING \(Self.importColumns)
                    """, [.int(id), .int(Int64(ImportState.running.rawValue)), .int(at.microseconds), .text(self.replica)])
                try self.notify(db, id)
                return Self.readJob(updated, 0)
            }
        }
    }

    public func renewClaim(id: Int64) async throws -> Bool {
        try await run { db in
            try db.execute("""
                UPDATE imports SET lease_until = now() + interval '\(self.leaseInterval)'
                WHERE id = $1 AND state = $2 AND lease_owner = $3
                """, [.int(id), .int(Int64(ImportState.running.rawValue)), .text(self.replica)]).affectedRows == 1
        }
    }

    public func abandonedRuns() async throws -> [Int64] {
        try await run { db in
            let r = try db.execute("SELECT id FROM imports WHERE state = $1 AND (lease_until IS NULL OR lease_until < now()) ORDER BY id",
                                   [.int(Int64(ImportState.running.rawValue))])
            return (0..<r.count).compactMap { r.int($0, 0) }
        }
    }

    public func requestStop(id: Int64, event: ImportEvent) async throws -> Bool {
        let wanted: ImportState = event == .cancel ? .cancelled : .paused
        return try await run { db in
            try db.transaction {
                // Cancel outranks pause; never the other way round.
                let asked = try db.execute("""
                    UPDATE imports SET requested_state = GREATEST(COALESCE(requested_state, 0), $2)
                    WHERE id = $1 AND state = $3 AND lease_owner IS NOT NULL AND lease_owner <> $4 AND lease_until >= now()
                    """, [.int(id), .int(Int64(wanted.rawValue)), .int(Int64(ImportState.running.rawValue)), .text(self.replica)])
                guard asked.affectedRows == 1 else { return false }
                try self.notify(db, id)
                return true
            }
        }
    }

    public func changes() -> AsyncStream<Int64>? {
        listener.subscribe()
    }

    /// A run here stopped for a shutdown: its lease lapses at once, so another
    /// replica resumes it without waiting.
    public func releaseClaim(id: Int64) async throws {
        _ = try await run { db in
            try db.execute("UPDATE imports SET lease_until = now() WHERE id = $1 AND state = $2 AND lease_owner = $3",
                           [.int(id), .int(Int64(ImportState.running.rawValue)), .text(self.replica)]).affectedRows
        }
    }

    /// The keys are written with the rows: nothing to prepare or finish.
    public func beginRun(importID: Int64) async throws {}
    public func endRun(importID: Int64) async throws {}

    /// Pages of uploads that never finished (their replica died, or the
    /// client went away unheard) go once they are a day old.
    public func recover() async throws {
        _ = try await run { db in
            try db.execute("""
                DELETE FROM spool_pages p WHERE written_at < now() - interval '1 day'
                    AND NOT EXISTS (SELECT 1 FROM imports i WHERE i.spool_name = p.spool_name)
                """).affectedRows
        }
    }

    // MARK: - Contacts

    public func contact(id: Int64) async throws -> ContactRecord? {
        try await run { db in
            let columns = ContactField.allCases.map(\.name).joined(separator: ", ")
            let s = try db.execute("SELECT subscription_id FROM contact_subscriptions WHERE contact_id = $1 ORDER BY subscription_id", [.int(id)])
            let subscriptions = (0..<s.count).compactMap { s.int($0, 0) }
            let r = try db.execute("""
                SELECT id, kind, \(columns), origin_campaign_id, created_by_import, updated_by_import, created_at, updated_at
                FROM contacts WHERE id = $1
                """, [.int(id)])
            guard r.count == 1 else { return nil }
            var fields: [ContactField: String] = [:]
            for field in ContactField.all {
                if let value = r.text(0, 2 + field.rawValue) { fields[field] = value }
            }
            let base = 2 + ContactField.allCases.count
            return ContactRecord(
                id: r.int(0, 0) ?? 0, kind: ContactKind(rawValue: Int(r.int(0, 1) ?? 0)) ?? .contact, fields: fields,
                originCampaignID: r.int(0, base), subscriptionIDs: subscriptions, createdByImportID: r.int(0, base + 1),
                updatedByImportID: r.int(0, base + 2), createdAt: WallTime(microseconds: r.int(0, base + 3) ?? 0),
                updatedAt: WallTime(microseconds: r.int(0, base + 4) ?? 0))
        }
    }

    // MARK: - Tokens

    public func createToken(name: String, scope: TokenScope, hash: String, at: WallTime) async throws -> APIToken {
        try await run { db in
            let r = try db.execute("INSERT INTO api_tokens (name, scope, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                                   [.text(name), .int(Int64(scope.rawValue)), .text(hash), .int(at.microseconds)])
            return APIToken(id: r.int(0, 0) ?? 0, name: name, scope: scope, createdAt: at, revokedAt: nil)
        }
    }

    static func readToken(_ r: PGResult, _ i: Int) -> APIToken {
        APIToken(id: r.int(i, 0) ?? 0, name: r.text(i, 1) ?? "", scope: TokenScope(rawValue: Int(r.int(i, 2) ?? 0)) ?? .read,
                 createdAt: WallTime(microseconds: r.int(i, 3) ?? 0), revokedAt: r.int(i, 4).map(WallTime.init(microseconds:)))
    }

    public func tokens() async throws -> [APIToken] {
        try await run { db in
            let r = try db.execute("SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY id")
            return (0..<r.count).map { Self.readToken(r, $0) }
        }
    }

    public func revokeToken(id: Int64, at: WallTime) async throws -> Bool {
        try await run { db in
            try db.execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2", [.int(at.microseconds), .int(id)])
                .affectedRows == 1
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await run { db in
            let r = try db.execute("SELECT id, name, scope, created_at, revoked_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                                   [.text(hash)])
            return r.count == 0 ? nil : Self.readToken(r, 0)
        }
    }

    // MARK: - Diagnostics

    /// Ids of contacts with this email key (tests).
    public func contactIDs(emailKey: String) async throws -> [Int64] {
        try await run { db in
            let r = try db.execute("SELECT id FROM contacts WHERE email_key = $1", [.text(emailKey)])
            return (0..<r.count).compactMap { r.int($0, 0) }
        }
    }

    /// Rows in a table (diagnostics and tests).
    public func count(_ table: String) async throws -> Int64 {
        try await run { db in try db.execute("SELECT count(*) FROM \(table)").int(0, 0) ?? 0 }
    }
}

extension PostgresImportStore {
    /// Counts by state and outcome, over every replica's imports.
    public func statistics() async throws -> StoreStatistics {
        try await run { db in
            var byState: [ImportState: Int64] = [:]
            let states = try db.execute("SELECT state, count(*) FROM imports GROUP BY state")
            for i in 0..<states.count {
                if let state = ImportState(rawValue: Int(states.int(i, 0) ?? 0)) { byState[state] = states.int(i, 1) ?? 0 }
            }
            let totals = try db.execute("SELECT COALESCE(SUM(created),0), COALESCE(SUM(updated),0), COALESCE(SUM(skipped),0), COALESCE(SUM(failed),0) FROM imports")
            let running = try db.execute("SELECT id, processed_rows FROM imports WHERE state = $1 AND lease_owner = $2 LIMIT 1",
                                         [.int(Int64(ImportState.running.rawValue)), .text(self.replica)])
            return StoreStatistics(
                importsByState: byState,
                rowsByOutcome: ["created": totals.int(0, 0) ?? 0, "updated": totals.int(0, 1) ?? 0, "skipped": totals.int(0, 2) ?? 0,
                                "failed": totals.int(0, 3) ?? 0],
                running: running.count == 1 ? (id: running.int(0, 0) ?? 0, processedRows: running.int(0, 1) ?? 0) : nil)
        }
    }
}
