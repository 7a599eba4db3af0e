import ImportEngine
import Platform
import SQLiteDB

/// `ImportStore` on SQLite in WAL mode: one writer connection (imports are
/// applied there, batch by batch) and one reader connection, so queries never
/// wait for an import and an import never waits for a query.
public final class SQLiteImportStore: ImportStore {
    let writer: WriterQueue
    let reader: DatabaseQueue
    let writerState = WriterState()
    public let path: String
    /// Memory for the keys of a run's new contacts before they spill to
    /// scratch files (see `KeyAccumulator`).
    let runKeyMemoryBytes: Int

    public static let defaultRunKeyMemoryBytes = 8 << 20

    /// Opens (creating and migrating) the database at `path`.
    /// The recent tier of dedup keys is merged into the main one from this
    /// many keys (and a quarter of the main tier's; see `KeyTiers`).
    let keyTierMergeFloor: Int64

    public init(path: String, runKeyMemoryBytes: Int = defaultRunKeyMemoryBytes, keyTierMergeFloor: Int64 = 2_000_000) throws {
        self.path = path
        self.runKeyMemoryBytes = runKeyMemoryBytes
        self.keyTierMergeFloor = keyTierMergeFloor
        writer = WriterQueue(queue: try DatabaseQueue(path: path, label: "sqlite-writer") { db in
            try Schema.configure(db, writer: true)
            try Migrator.migrate(db, Schema.migrations)
        })
        reader = try DatabaseQueue(path: path, label: "sqlite-reader") { db in
            try Schema.configure(db, writer: false)
        }
    }

    // MARK: - Campaigns and subscriptions

    static func table(_ kind: TagKind) -> String { kind == .campaign ? "campaigns" : "subscriptions" }

    public func createTag(_ kind: TagKind, name: String, code: String?, at: WallTime) async throws -> AudienceTag {
        try await writer.run { db in
            do {
                try db.cached("INSERT INTO \(Self.table(kind)) (name, code, created_at) VALUES (?, ?, ?)")
                    .execute([.text(name), SQLValue(code), .integer(at.microseconds)])
            } catch let error as SQLiteError where error.isUniqueViolation {
                throw StoreError.duplicate("a \(kind.noun) with code \"\(code ?? "")\"")
            }
            return AudienceTag(id: db.lastInsertRowID, name: name, code: code, createdAt: at)
        }
    }

    public func tag(_ kind: TagKind, id: Int64) async throws -> AudienceTag? {
        try await reader.run { db in
            try db.cached("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE id = ?").queryOne([.integer(id)], Self.readTag)
        }
    }

    public func tag(_ kind: TagKind, code: String) async throws -> AudienceTag? {
        try await reader.run { db in
            try db.cached("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE code = ?").queryOne([.text(code)], Self.readTag)
        }
    }

    public func tags(_ kind: TagKind, afterID: Int64, limit: Int) async throws -> [AudienceTag] {
        try await reader.run { db in
            try db.cached("SELECT id, name, code, created_at FROM \(Self.table(kind)) WHERE id > ? ORDER BY id LIMIT ?")
                .query([.integer(afterID), .integer(Int64(limit))], Self.readTag)
        }
    }

    static func readTag(_ row: Statement) -> AudienceTag {
        AudienceTag(id: row.int64(0), name: row.text(1) ?? "", code: row.text(2), createdAt: WallTime(microseconds: row.int64(3)))
    }

    // MARK: - Imports

    static let importColumns = """
        id, state, version, file_name, kind, origin_campaign_id, subscription_ids, on_duplicate, column_map,
        ignore_unknown_columns, validate_only, encoding, sha256, bytes, total_rows, processed_rows, created, updated,
        skipped, failed, error, created_at, started_at, finished_at, updated_at, reverted_rows, revert_kept_rows,
        spool_name, header, delimiter, data_offset, checkpoint_offset, checkpoint_row, same_file_as, kind_explicit
        """

    static func readJob(_ r: Statement) -> ImportJob {
        var job = ImportJob(id: r.int64(0), state: ImportState(rawValue: r.int(1)) ?? .failed, NewImport(
            fileName: r.text(3) ?? "", kind: ContactKind(rawValue: r.int(4)) ?? .contact, kindExplicit: r.int(34) != 0, originCampaignID: r.optionalInt64(5),
            subscriptionIDs: StoreCodec.ids(r.text(6) ?? ""), onDuplicate: DuplicatePolicy(rawValue: r.int(7)) ?? .update,
            columnMap: StoreCodec.map(r.text(8) ?? ""), ignoreUnknownColumns: r.int(9) != 0, validateOnly: r.int(10) != 0,
            encoding: TextEncoding(rawValue: r.text(11) ?? "") ?? .utf8, sha256: r.text(12) ?? "", bytes: r.int64(13),
            totalRows: r.int64(14), spoolName: r.text(27) ?? "", header: StoreCodec.list(r.text(28) ?? ""),
            delimiter: UInt8(truncatingIfNeeded: r.int(29)), dataOffset: r.int64(30), createdAt: WallTime(microseconds: r.int64(21))))
        job.updatedAt = WallTime(microseconds: r.int64(24))
        job.checkpointOffset = r.int64(31)
        job.checkpointRow = r.int64(32)
        job.version = r.int64(2)
        job.processedRows = r.int64(15)
        job.created = r.int64(16)
        job.updated = r.int64(17)
        job.skipped = r.int64(18)
        job.failed = r.int64(19)
        job.error = r.text(20)
        job.startedAt = r.optionalInt64(22).map(WallTime.init(microseconds:))
        job.finishedAt = r.optionalInt64(23).map(WallTime.init(microseconds:))
        job.revertedRows = r.int64(25)
        job.revertKeptRows = r.int64(26)
        job.sameFileAs = r.optionalInt64(33)
        return job
    }

    static func job(_ db: Connection, _ id: Int64) throws -> ImportJob? {
        try db.cached("SELECT \(importColumns) FROM imports WHERE id = ?").queryOne([.integer(id)], readJob)
    }

    public func createImport(_ new: NewImport) async throws -> ImportJob {
        try await writer.run { db in
            // The upload's answer promises durability: the writer syncs every commit (Schema.configure).
            try db.cached("""
                INSERT INTO imports (state, file_name, kind, origin_campaign_id, subscription_ids, on_duplicate, column_map,
                    ignore_unknown_columns, validate_only, encoding, sha256, bytes, total_rows, created_at, updated_at,
                    spool_name, header, delimiter, data_offset, checkpoint_offset, kind_explicit, same_file_as)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                    (SELECT max(id) FROM imports WHERE sha256 = ?))
                """).execute([
                    .integer(Int64(ImportState.queued.rawValue)), .text(new.fileName), .integer(Int64(new.kind.rawValue)),
                    SQLValue(new.originCampaignID), .text(StoreCodec.ids(new.subscriptionIDs)), .integer(Int64(new.onDuplicate.rawValue)),
                    .text(StoreCodec.map(new.columnMap)), SQLValue(new.ignoreUnknownColumns), SQLValue(new.validateOnly),
                    .text(new.encoding.rawValue), .text(new.sha256), .integer(new.bytes), .integer(new.totalRows),
                    .integer(new.createdAt.microseconds), .integer(new.createdAt.microseconds), .text(new.spoolName),
                    .text(StoreCodec.list(new.header)), .integer(Int64(new.delimiter)), .integer(new.dataOffset), .integer(new.dataOffset),
                    SQLValue(new.kindExplicit), .text(new.sha256),
                ])
            return try Self.job(db, db.lastInsertRowID)!
        }
    }

    public func importJob(id: Int64) async throws -> ImportJob? {
        try await reader.run { db in try Self.job(db, id) }
    }

    public func importJobs(states: Set<ImportState>, beforeID: Int64, limit: Int) async throws -> [ImportJob] {
        try await reader.run { db in
            let filter = states.isEmpty ? "" : "AND state IN (\(states.map { String($0.rawValue) }.sorted().joined(separator: ",")))"
            return try db.prepare("SELECT \(Self.importColumns) FROM imports WHERE id < ? \(filter) ORDER BY id DESC LIMIT ?")
                .query([.integer(beforeID), .integer(Int64(limit))], Self.readJob)
        }
    }

    public func importIDs(in state: ImportState) async throws -> [Int64] {
        try await reader.run { db in
            try db.cached("SELECT id FROM imports WHERE state = ? ORDER BY id").query([.integer(Int64(state.rawValue))]) { $0.int64(0) }
        }
    }

    public func transition(id: Int64, event: ImportEvent, error: String?, at: WallTime) async throws -> Transition {
        try await writer.run { db in
            try db.transaction { try Self.transition(db, id: id, event: event, error: error, at: at) }
        }
    }

    /// The one place an import's state is written: the lifecycle decides.
    static func transition(_ db: Connection, id: Int64, event: ImportEvent, error: String?, at: WallTime) throws -> Transition {
        guard let job = try job(db, id) else { throw StoreError.notFound(id) }
        let next = try ImportLifecycle.next(job.state, on: event)
        guard next != job.state else { return Transition(job: job, changed: false) }
        // A resumed import starts afresh: the note of why it stopped goes.
        var sets = event == .resume ? "state = ?, version = version + 1, updated_at = ?, error = ?"
            : "state = ?, version = version + 1, updated_at = ?, error = COALESCE(?, error)"
        var bindings: [SQLValue] = [.integer(Int64(next.rawValue)), .integer(at.microseconds), SQLValue(error)]
        if next == .running {
            sets += ", started_at = COALESCE(started_at, ?)"
            bindings.append(.integer(at.microseconds))
        }
        if next.isTerminal && next != .reverted {
            sets += ", finished_at = ?"
            bindings.append(.integer(at.microseconds))
        }
        try db.cached("UPDATE imports SET \(sets) WHERE id = ?").execute(bindings + [.integer(id)])
        return Transition(job: try Self.job(db, id)!, changed: true)
    }

    public func spoolNames() async throws -> Set<String> {
        try await reader.run { db in
            Set(try db.cached("SELECT spool_name FROM imports").query { $0.text(0) ?? "" })
        }
    }

    // MARK: - Contacts

    public func contact(id: Int64) async throws -> ContactRecord? {
        try await reader.run { db in
            let columns = Schema.contactColumns.joined(separator: ", ")
            let subscriptions = try db.cached("SELECT subscription_id FROM contact_subscriptions WHERE contact_id = ? ORDER BY subscription_id")
                .query([.integer(id)]) { $0.int64(0) }
            return try db.cached("""
                SELECT id, kind, \(columns), origin_campaign_id, created_by_import, updated_by_import, created_at, updated_at
                FROM contacts WHERE id = ?
                """).queryOne([.integer(id)]) { r in
                var fields: [ContactField: String] = [:]
                for field in ContactField.all {
                    if let value = r.text(Int32(2 + field.rawValue)) { fields[field] = value }
                }
                let base = Int32(2 + ContactField.allCases.count)
                return ContactRecord(
                    id: r.int64(0), kind: ContactKind(rawValue: r.int(1)) ?? .contact, fields: fields,
                    originCampaignID: r.optionalInt64(base), subscriptionIDs: subscriptions, createdByImportID: r.optionalInt64(base + 1),
                    updatedByImportID: r.optionalInt64(base + 2), createdAt: WallTime(microseconds: r.int64(base + 3)),
                    updatedAt: WallTime(microseconds: r.int64(base + 4)))
            }
        }
    }

    // MARK: - Tokens

    public func createToken(name: String, scope: TokenScope, hash: String, at: WallTime) async throws -> APIToken {
        try await writer.run { db in
            try db.cached("INSERT INTO api_tokens (name, scope, token_hash, created_at) VALUES (?, ?, ?, ?)")
                .execute([.text(name), .integer(Int64(scope.rawValue)), .text(hash), .integer(at.microseconds)])
            return APIToken(id: db.lastInsertRowID, name: name, scope: scope, createdAt: at, revokedAt: nil)
        }
    }

    public func tokens() async throws -> [APIToken] {
        try await reader.run { db in
            try db.cached("SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY id").query([], Self.readToken)
        }
    }

    public func revokeToken(id: Int64, at: WallTime) async throws -> Bool {
        try await writer.run { db in
            try db.cached("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?").execute([.integer(at.microseconds), .integer(id)])
            return db.changes == 1
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await reader.run { db in
            try db.cached("SELECT id, name, scope, created_at, revoked_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL")
                .queryOne([.text(hash)], Self.readToken)
        }
    }

    static func readToken(_ r: Statement) -> APIToken {
        APIToken(id: r.int64(0), name: r.text(1) ?? "", scope: TokenScope(rawValue: r.int(2)) ?? .read,
            createdAt: WallTime(microseconds: r.int64(3)), revokedAt: r.optionalInt64(4).map(WallTime.init(microseconds:)))
    }
}

/// The writer connection's queue; a full disk becomes `StoreError.diskFull`,
/// which the domain understands (it pauses a running import).
struct WriterQueue: Sendable {
    let queue: DatabaseQueue

    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        do {
            return try await queue.run(body)
        } catch let error as SQLiteError where error.isDiskFull {
            throw StoreError.diskFull
        }
    }
}

extension SQLiteImportStore {
    /// Ids of contacts with this email key (diagnostics and tests).
    public func contactIDs(emailKey: String) async throws -> [Int64] {
        try await reader.run { db in
            try db.cached("SELECT contact_id FROM contact_keys WHERE tier IN (SELECT tier FROM key_tiers) AND kind = 1 AND key = ?").query([.text(emailKey)]) { $0.int64(0) }
        }
    }

    /// The writer's `PRAGMA synchronous` (2: FULL), for tests.
    public func writerSynchronous() async throws -> Int64 {
        try await writer.run { db in Int64(try db.pragma("synchronous") ?? "") ?? -1 }
    }

    /// Rows in a table (diagnostics and tests).
    public func count(_ table: String) async throws -> Int64 {
        try await reader.run { db in try db.scalar("SELECT count(*) FROM \(table)") ?? 0 }
    }
}
