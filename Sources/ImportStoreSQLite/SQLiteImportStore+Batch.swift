import ImportEngine
import SQLiteDB

/// Applying a batch of prepared rows: the import's hot path.
extension SQLiteImportStore {
    public func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob {
        let state = writerState
        return try await writer.run { db in
            // Moved out of the dictionary (not copied), and back after the commit.
            let keys = state.keys.removeValue(forKey: job.id)
            let mark = keys?.mark
            var applier = try BatchApplier(db: db, job: job, at: at, keys: keys)
            let result: ImportJob
            do {
                result = try db.transaction {
                try applier.apply(batch)
                let counts = applier.counts
                try db.cached("""
                    UPDATE imports SET processed_rows = processed_rows + ?, created = created + ?, updated = updated + ?,
                        skipped = skipped + ?, failed = failed + ?, checkpoint_offset = ?, checkpoint_row = ?,
                        updated_at = ?, version = version + 1
                    WHERE id = ? AND state = ?
                    """).execute([
                        .integer(Int64(batch.count)), .integer(counts.created), .integer(counts.updated), .integer(counts.skipped),
                        .integer(counts.failed), .integer(batch.nextOffset), .integer(Int64(batch.rowNumbers.last ?? Int(job.checkpointRow))),
                        .integer(at.microseconds), .integer(job.id), .integer(Int64(ImportState.running.rawValue)),
                    ])
                guard db.changes == 1 else {
                    // Someone moved the import on; the transaction rolls back whole.
                    throw ImportError.failedPrecondition("import \(job.publicID) is no longer RUNNING")
                }
                return try Self.job(db, job.id)!
                }
            } catch {
                if var rolledBack = applier.keys, let mark {
                    rolledBack.truncate(to: mark)
                    state.keys[job.id] = rolledBack
                }
                throw error
            }
            // Committed: the batch's keys join the run's.
            if var committed = applier.keys {
                committed.lastRow = result.checkpointRow
                state.keys[job.id] = committed
            }
            return result
        }
    }

    /// Adds the dedup keys of the contacts an import created since the last
    /// sync, in key order, in one transaction (see `Schema`): from memory when
    /// this process ran the rows, else (after a crash) from the stored contacts.
    public func syncKeys(importID: Int64) async throws {
        let state = writerState
        try await writer.run { db in
            let pending = state.keys.removeValue(forKey: importID)
            try db.transaction {
                guard let synced = try db.scalar("SELECT keys_synced_row FROM imports WHERE id = ?", [.integer(importID)]) else { return }
                if let pending {
                    try pending.write(db)
                    try Self.markSynced(db, importID: importID, through: pending.lastRow)
                } else {
                    try Self.syncKeysFromContacts(db, importID: importID, after: synced)
                }
            }
        }
    }

    private static func markSynced(_ db: Connection, importID: Int64, through row: Int64) throws {
        try db.cached("UPDATE imports SET keys_synced_row = max(keys_synced_row, ?) WHERE id = ?").execute([.integer(row), .integer(importID)])
    }

    private static func syncKeysFromContacts(_ db: Connection, importID: Int64, after synced: Int64) throws {
        let select = try db.cached("""
            SELECT r.row_number, c.id, c.email, c.external_id FROM import_rows r JOIN contacts c ON c.id = r.contact_id
            WHERE r.import_id = ? AND r.row_number > ? AND r.outcome = 1 ORDER BY r.row_number LIMIT 200000
            """)
        var after = synced
        while true {
            var keys = KeyAccumulator(from: after)
            var last: Int64?
            try select.forEachRow([.integer(importID), .integer(after)]) { r in
                last = r.int64(0)
                let id = r.int64(1)
                if let email = r.text(2) { keys.add(kind: ContactKeys.email, key: ContactKeys.emailKey(email), contactID: id) }
                if let externalID = r.text(3) { keys.add(kind: ContactKeys.externalID, key: externalID, contactID: id) }
            }
            guard let last else { break }
            try keys.write(db)
            after = last
        }
        try markSynced(db, importID: importID, through: after)
    }

    /// Starts collecting the run's keys in memory.
    private func startCollectingKeys(importID: Int64) async throws {
        let state = writerState
        try await writer.run { db in
            let synced = try db.scalar("SELECT keys_synced_row FROM imports WHERE id = ?", [.integer(importID)]) ?? 0
            state.keys[importID] = KeyAccumulator(from: synced)
        }
    }

    public func beginRun(importID: Int64) async throws {
        try await syncKeys(importID: importID)
        try await startCollectingKeys(importID: importID)
    }

    public func endRun(importID: Int64) async throws {
        try await syncKeys(importID: importID)
    }

    /// Adds the keys of every import whose created contacts still lack them.
    public func recover() async throws {
        let pending = try await reader.run { db in
            try db.cached("SELECT id FROM imports WHERE keys_synced_row < checkpoint_row AND validate_only = 0 ORDER BY id")
                .query([]) { $0.int64(0) }
        }
        for id in pending {
            try await syncKeys(importID: id)
        }
    }
}

/// The dedup keys of a contact.
enum ContactKeys {
    static let email: Int64 = 1
    static let externalID: Int64 = 2

    static func emailKey(_ email: String) -> String {
        var key: [UInt8] = []
        FieldRules.appendEmailKey(ArraySlice(email.utf8), to: &key)
        return String(decoding: key, as: UTF8.self)
    }

    /// The contact a key belongs to.
    static func owner(_ db: Connection, kind: Int64, key: String) throws -> Int64? {
        try db.cached("SELECT contact_id FROM contact_keys WHERE kind = ? AND key = ?").queryOne([.integer(kind), .text(key)]) { $0.int64(0) }
    }

    /// Moves a contact's key of `kind` from `old` to `new` (either may be nil).
    static func replace(_ db: Connection, contact: Int64, kind: Int64, old: String?, new: String?) throws {
        if let old {
            try db.cached("DELETE FROM contact_keys WHERE kind = ? AND key = ? AND contact_id = ?")
                .execute([.integer(kind), .text(old), .integer(contact)])
        }
        if let new {
            try db.cached("INSERT INTO contact_keys (kind, key, contact_id) VALUES (?, ?, ?)").execute([.integer(kind), .text(new), .integer(contact)])
        }
    }
}

/// Applies rows one by one inside the batch's transaction, with cached
/// statements and values bound straight from the batch's byte buffer.
struct BatchApplier {
    struct Counts {
        var created: Int64 = 0
        var updated: Int64 = 0
        var skipped: Int64 = 0
        var failed: Int64 = 0
    }

    let db: Connection
    let job: ImportJob
    let at: WallTime
    var counts = Counts()
    /// The run's keys (nil for a dry run, or when no run collects them).
    var keys: KeyAccumulator?
    private var rowSink: RowResultSink
    private let insertContact: Statement
    private let insertError: Statement
    private let insertSubscription: Statement
    private let keyOwner: Statement
    private let loadContact: Statement
    private let mergeContact: Statement

    static let fieldCount = ContactField.allCases.count

    init(db: Connection, job: ImportJob, at: WallTime, keys: KeyAccumulator?) throws {
        self.db = db
        self.job = job
        self.at = at
        self.keys = job.validateOnly ? nil : keys
        self.rowSink = try RowResultSink(db: db, importID: job.id)
        let columns = Schema.contactColumns.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: Self.fieldCount).joined(separator: ", ")
        insertContact = try db.cached("""
            INSERT INTO contacts (kind, \(columns), origin_campaign_id, created_by_import, created_at, updated_at)
            VALUES (?, \(placeholders), ?, ?, ?, ?)
            """)
        insertError = try db.cached("INSERT INTO import_row_errors (import_id, row_number, seq, code, column_name, message) VALUES (?, ?, ?, ?, ?, ?)")
        insertSubscription = try db.cached(
            "INSERT OR IGNORE INTO contact_subscriptions (contact_id, subscription_id, added_by_import, added_at) VALUES (?, ?, ?, ?)")
        keyOwner = try db.cached("SELECT contact_id FROM contact_keys WHERE kind = ? AND key = ?")
        loadContact = try db.cached("SELECT kind, \(columns), updated_by_import, updated_at FROM contacts WHERE id = ?")
        let merges = Schema.contactColumns.map { "\($0) = COALESCE(?, \($0))" }.joined(separator: ", ")
        mergeContact = try db.cached("""
            UPDATE contacts SET \(merges), kind = ?, updated_by_import = ?, updated_at = ? WHERE id = ?
            """)
    }

    /// Applies every row of `batch`.
    mutating func apply(_ batch: RowBatch) throws {
        for row in 0..<batch.count {
            try apply(batch, row)
        }
        try rowSink.flush()
    }

    mutating func apply(_ batch: RowBatch, _ row: Int) throws {
        if batch.hasFailures, let errors = batch.failures[row] {
            try fail(batch, row, errors)
            return
        }
        guard let (existing, byEmail) = try match(batch, row) else {
            if job.validateOnly {
                try record(batch, row, .created, contactID: nil, previous: nil)
            } else {
                try create(batch, row)
            }
            return
        }
        if job.onDuplicate == .skip {
            try record(batch, row, .skipped, contactID: existing, previous: nil)
            return
        }
        try merge(batch, row, into: existing, matchedByEmail: byEmail)
    }

    /// A new contact, appended; its keys come with the run's key sync.
    private mutating func create(_ batch: RowBatch, _ row: Int) throws {
        try insertContact.withBuffer(batch.bytes) { binder in
            try binder.int(1, Int64(job.kind.rawValue))
            for field in ContactField.allCases {
                try binder.text(Int32(2 + field.rawValue), batch.range(row, field))
            }
            let base = Int32(2 + Self.fieldCount)
            try binder.int(base, job.originCampaignID)
            try binder.int(base + 1, job.id)
            try binder.int(base + 2, at.microseconds)
            try binder.int(base + 3, at.microseconds)
            try binder.step()
        }
        let id = db.lastInsertRowID
        for subscription in job.subscriptionIDs {
            try insertSubscription.execute([.integer(id), .integer(subscription), .integer(job.id), .integer(at.microseconds)])
        }
        if keys != nil {
            keys!.add(kind: ContactKeys.email, batch.bytes, batch.range(row, RowBatch.emailKeySlot), contactID: id)
            keys!.add(kind: ContactKeys.externalID, batch.bytes, batch.range(row, .externalID), contactID: id)
        }
        try record(batch, row, .created, contactID: id, previous: nil)
    }


    private func owner(_ kind: Int64, _ batch: RowBatch, _ range: Range<Int>) throws -> Int64? {
        try keyOwner.withBuffer(batch.bytes) { binder in
            try binder.int(1, kind)
            try binder.text(2, range)
            return try binder.step() ? keyOwner.int64(0) : nil
        }
    }

    /// The existing contact a row matches: by external_id, then by email.
    private func match(_ batch: RowBatch, _ row: Int) throws -> (Int64, byEmail: Bool)? {
        let externalID = batch.range(row, .externalID)
        if !externalID.isEmpty, let id = try owner(ContactKeys.externalID, batch, externalID) {
            return (id, false)
        }
        let key = batch.range(row, RowBatch.emailKeySlot)
        if !key.isEmpty, let id = try owner(ContactKeys.email, batch, key) {
            return (id, true)
        }
        return nil
    }

    /// UPDATE: the row's non-empty fields go into the contact; what they replace
    /// is recorded for a revert. A dry run only checks that it could.
    private mutating func merge(_ batch: RowBatch, _ row: Int, into id: Int64, matchedByEmail: Bool) throws {
        loadContact.reset()
        try loadContact.bind(1, id)
        guard try loadContact.step() else {
            loadContact.reset()
            throw ImportError.failedPrecondition("contact \(id) vanished during an import")
        }
        let oldKind = loadContact.int64(0)
        var old: [String?] = []
        for field in ContactField.allCases {
            old.append(loadContact.text(Int32(1 + field.rawValue)))
        }
        let oldUpdatedBy = loadContact.optionalInt64(Int32(1 + Self.fieldCount))
        let oldUpdatedAt = loadContact.int64(Int32(2 + Self.fieldCount))
        loadContact.reset()

        // Keys the row would give the contact must not be another contact's.
        let rowExternalID = batch.range(row, .externalID)
        let rowExternal = rowExternalID.isEmpty ? nil : String(decoding: batch.bytes[rowExternalID], as: UTF8.self)
        let oldExternal = old[ContactField.externalID.rawValue]
        if matchedByEmail, let rowExternal, let oldExternal, rowExternal != oldExternal {
            try conflict(batch, row, "the email belongs to contact \(ResourceKind.contact.format(id)), whose external_id is \(oldExternal)")
            return
        }
        let keyRange = batch.range(row, RowBatch.emailKeySlot)
        let rowEmailKey = keyRange.isEmpty ? nil : String(decoding: batch.bytes[keyRange], as: UTF8.self)
        let oldEmailKey = old[ContactField.email.rawValue].map(ContactKeys.emailKey)
        let emailKeyChanges = rowEmailKey != nil && rowEmailKey != oldEmailKey
        if emailKeyChanges, let other = try owner(ContactKeys.email, batch, keyRange), other != id {
            try conflict(batch, row, "the row matches contact \(ResourceKind.contact.format(id)), but its email belongs to contact \(ResourceKind.contact.format(other))")
            return
        }
        if job.validateOnly {
            try record(batch, row, .updated, contactID: id, previous: nil)
            return
        }
        var previous = PreviousValues()
        mergeContact.reset()
        for field in ContactField.allCases {
            let range = batch.range(row, field)
            // An email that differs only in letter case is the same address: no change.
            let unchanged = range.isEmpty || (field == .email && !emailKeyChanges)
                || String(decoding: batch.bytes[range], as: UTF8.self) == old[field.rawValue]
            if unchanged {
                try mergeContact.bindNull(Int32(1 + field.rawValue))
            } else {
                previous.fields.append((field.rawValue, old[field.rawValue]))
                try mergeContact.bindText(Int32(1 + field.rawValue), batch.bytes, range)
            }
        }
        let base = Int32(1 + Self.fieldCount)
        // A lead becomes a contact when the upload says contact; a contact never
        // becomes a lead; an upload that did not say keeps the kind.
        try mergeContact.bind(base, job.kindExplicit && job.kind == .contact ? Int64(ContactKind.contact.rawValue) : oldKind)
        try mergeContact.bind(base + 1, job.id)
        try mergeContact.bind(base + 2, at.microseconds)
        try mergeContact.bind(base + 3, id)
        try mergeContact.step()
        mergeContact.reset()
        if emailKeyChanges {
            try ContactKeys.replace(db, contact: id, kind: ContactKeys.email, old: oldEmailKey, new: rowEmailKey)
        }
        if let rowExternal, oldExternal == nil {
            try ContactKeys.replace(db, contact: id, kind: ContactKeys.externalID, old: nil, new: rowExternal)
        }
        previous.kind = oldKind
        previous.updatedBy = oldUpdatedBy
        previous.updatedAt = oldUpdatedAt
        for subscription in job.subscriptionIDs {
            try insertSubscription.execute([.integer(id), .integer(subscription), .integer(job.id), .integer(at.microseconds)])
        }
        try record(batch, row, .updated, contactID: id, previous: previous.encoded())
    }

    private mutating func conflict(_ batch: RowBatch, _ row: Int, _ message: String) throws {
        let column = batch.range(row, .externalID).isEmpty ? "email" : "external_id"
        try fail(batch, row, [RowError(code: .conflictingContact, column: column, message: message)])
    }

    private mutating func fail(_ batch: RowBatch, _ row: Int, _ errors: [RowError]) throws {
        try record(batch, row, .failed, contactID: nil, previous: nil)
        let number = Int64(batch.rowNumbers[row])
        for (seq, error) in errors.enumerated() {
            try insertError.execute([
                .integer(job.id), .integer(number), .integer(Int64(seq)), .text(error.code.rawValue), .text(error.column), .text(error.message),
            ])
        }
    }

    private mutating func record(_ batch: RowBatch, _ row: Int, _ outcome: RowOutcome, contactID: Int64?, previous: [UInt8]?) throws {
        switch outcome {
        case .created: counts.created += 1
        case .updated: counts.updated += 1
        case .skipped: counts.skipped += 1
        case .failed: counts.failed += 1
        }
        try rowSink.add(row: Int64(batch.rowNumbers[row]), outcome: Int64(outcome.rawValue), contactID: contactID, offset: batch.offsets[row], previous: previous)
    }
}

/// Buffers row results and writes them 64 to a statement: one statement per
/// row would cost more than the rows themselves.
struct RowResultSink {
    static let width = 64
    private let importID: Int64
    private let many: Statement
    private let one: Statement
    private var buffered: [(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?)] = []

    init(db: Connection, importID: Int64) throws {
        self.importID = importID
        let tuple = "(?, ?, ?, ?, ?, ?)"
        let sql = "INSERT INTO import_rows (import_id, row_number, outcome, contact_id, offset, previous) VALUES "
        many = try db.cached(sql + Array(repeating: tuple, count: Self.width).joined(separator: ", "))
        one = try db.cached(sql + tuple)
        buffered.reserveCapacity(Self.width)
    }

    mutating func add(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?) throws {
        buffered.append((row, outcome, contactID, offset, previous))
        if buffered.count == Self.width { try flush() }
    }

    mutating func flush() throws {
        guard !buffered.isEmpty else { return }
        let statement = buffered.count == Self.width ? many : one
        if buffered.count == Self.width {
            try bind(statement, buffered)
            try statement.step()
            statement.reset()
        } else {
            for entry in buffered {
                try bind(statement, [entry])
                try statement.step()
                statement.reset()
            }
        }
        buffered.removeAll(keepingCapacity: true)
    }

    private func bind(_ statement: Statement, _ entries: [(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?)]) throws {
        for (i, entry) in entries.enumerated() {
            let base = Int32(i * 6)
            try statement.bind(base + 1, importID)
            try statement.bind(base + 2, entry.row)
            try statement.bind(base + 3, entry.outcome)
            if let contactID = entry.contactID { try statement.bind(base + 4, contactID) } else { try statement.bindNull(base + 4) }
            try statement.bind(base + 5, entry.offset)
            if let previous = entry.previous { try statement.bind(base + 6, .blob(previous)) } else { try statement.bindNull(base + 6) }
        }
    }
}

/// What an UPDATE overwrote: fields (NULL when they were empty), kind, and the
/// contact's last updater, for a revert to put back.
struct PreviousValues {
    var fields: [(Int, String?)] = []
    var kind: Int64 = 0
    var updatedBy: Int64?
    var updatedAt: Int64 = 0

    /// `kind|updatedBy|updatedAt` then `\u{1E}slot\u{1F}value` per field
    /// (`\u{1D}` for NULL), UTF-8.
    func encoded() -> [UInt8] {
        var text = "\(kind)|\(updatedBy.map(String.init) ?? "")|\(updatedAt)"
        for (slot, value) in fields {
            text += "\u{1E}\(slot)\u{1F}\(value ?? "\u{1D}")"
        }
        return Array(text.utf8)
    }

    static func decode(_ bytes: [UInt8]) -> PreviousValues? {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\u{1E}", omittingEmptySubsequences: false)
        guard let head = parts.first else { return nil }
        let meta = head.split(separator: "|", omittingEmptySubsequences: false)
        guard meta.count == 3, let kind = Int64(meta[0]), let updatedAt = Int64(meta[2]) else { return nil }
        var previous = PreviousValues(kind: kind, updatedBy: Int64(meta[1]), updatedAt: updatedAt)
        for part in parts.dropFirst() {
            let pair = part.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let slot = Int(pair[0]) else { return nil }
            previous.fields.append((slot, pair[1] == "\u{1D}" ? nil : String(pair[1])))
        }
        return previous
    }
}
