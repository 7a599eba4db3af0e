import ImportEngine
import PostgresDB

/// Applying a batch on PostgreSQL: a few round trips per batch, not per row.
///
/// 1. Lock the import's row and check this replica still holds the run.
/// 2. Look up every key of the batch at once, reading and locking the contacts
///    that hold them in the same statement.
/// 3. Decide every row in memory, in row order, exactly as the SQLite store
///    does row by row (match by external_id then email, merge, conflicts).
/// 4. Write: ids for new contacts, the contacts with their keys (COPY), merged
///    contacts (COPY to a staging table, one UPDATE), subscriptions, row
///    results and errors (COPY), and the counters with the checkpoint. The keys
///    are unique in the database: a key another replica took since the look-up
///    fails the batch, which is rolled back and decided again.
///
/// Steps 2-3 have a shortcut. While an import meets no stored key (a file of
/// new contacts, the common case), the look-up finds nothing and costs a third
/// of the batch: so when the import's previous batch found no stored key, the
/// batch is first written as if every key were new, under a savepoint. The
/// unique keys make that safe: if it is wrong for any row, the COPY fails, the
/// savepoint is rolled back and the batch takes the look-up. A batch written
/// whole that way met no stored key, so every row's decision (create) is the
/// one the look-up would have made.
extension PostgresImportStore {
    /// Rolls the batch back and decides it again: another replica took a key
    /// (or a contact) this batch counted on.
    struct Contended: Error {}

    public func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob {
        var attempt = 0
        while true {
            let guessNew = attempt == 0 && !job.validateOnly && expectsNewKeys(job)
            do {
                return try await run { db in
                    try db.transaction { try self.apply(db, batch, job: job, at: at, guessNew: guessNew) }
                }
            } catch let error where Self.isContention(error) && attempt < 20 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int64(5 * attempt)))
            }
        }
    }

    static func isContention(_ error: any Error) -> Bool {
        if error is Contended { return true }
        guard let error = error as? PGError else { return false }
        return error.isUniqueViolation || error.isSerializationFailure
    }

    /// Whether the import's batches are likely to meet no stored key: its last
    /// batch here found none, or (its first batch here) it has matched nothing yet.
    private func expectsNewKeys(_ job: ImportJob) -> Bool {
        guard let found = lastBatchFoundKeys.withLock({ $0[job.id] }) else { return job.updated == 0 && job.skipped == 0 }
        return !found
    }

    private func remember(_ job: ImportJob, foundKeys: Bool) {
        lastBatchFoundKeys.withLock { found in
            // A few imports run at once: the map is cleared rather than grown.
            if found.count >= 256 && found[job.id] == nil { found.removeAll() }
            found[job.id] = foundKeys
        }
    }

    private func apply(_ db: PGConnection, _ batch: RowBatch, job: ImportJob, at: WallTime, guessNew: Bool) throws -> ImportJob {
        let fence = try db.execute("SELECT state, lease_owner FROM imports WHERE id = $1 FOR UPDATE", [.int(job.id)])
        guard fence.count == 1, fence.int(0, 0) == Int64(ImportState.running.rawValue) else {
            throw ImportError.failedPrecondition("import \(job.publicID) is no longer RUNNING")
        }
        guard fence.text(0, 1) == replica else { throw StoreError.claimLost(job.id) }
        if guessNew {
            var written: (plan: BatchPlan, newIDs: [Int64])?
            try db.execute("SAVEPOINT all_new")
            do {
                var plan = BatchPlan(job: job, at: at)
                // Two rows of the batch with one key (which the in-file check
                // rules out) would fail the COPY too: no need to track them here.
                plan.tracksNewKeys = false
                for row in 0..<batch.count {
                    try plan.decide(batch, row)
                }
                let newIDs = try write(db, plan, batch)
                try db.execute("RELEASE SAVEPOINT all_new")
                written = (plan, newIDs)
            } catch let error as PGError where error.isUniqueViolation {
                // A stored key after all (or one another replica just took).
                try db.execute("ROLLBACK TO SAVEPOINT all_new")
                paths.withLock { $0.guessedWrong += 1 }
            }
            if let written {
                remember(job, foundKeys: false)
                let updated = try finish(db, written.plan, batch, newIDs: written.newIDs)
                paths.withLock { $0.writtenAsNew += 1 }
                return updated
            }
        }
        // Key look-ups go through the indexes, always: a table that grew faster
        // than autovacuum's statistics would otherwise be scanned whole, once a batch.
        try db.execute("SET LOCAL enable_seqscan = off")

        var plan = BatchPlan(job: job, at: at)
        if job.onDuplicate == .skip {
            plan.owners = try lookUpKeys(db, batch)
        } else {
            (plan.owners, plan.contacts) = try loadMatchedContacts(db, batch, lock: !job.validateOnly)
        }
        remember(job, foundKeys: !plan.owners.isEmpty)
        for row in 0..<batch.count {
            try plan.decide(batch, row)
        }
        let newIDs = job.validateOnly ? [] : try write(db, plan, batch)
        let updated = try finish(db, plan, batch, newIDs: newIDs)
        paths.withLock { $0.lookedUp += 1 }
        return updated
    }

    /// The row results, the counters and the checkpoint, and the notice to watchers.
    private func finish(_ db: PGConnection, _ plan: BatchPlan, _ batch: RowBatch, newIDs: [Int64]) throws -> ImportJob {
        let job = plan.job
        try copyRowResults(db, plan, batch, newIDs: newIDs)
        let counts = plan.counts
        let r = try db.execute("""
            UPDATE imports SET processed_rows = processed_rows + $1, created = created + $2, updated = updated + $3,
                skipped = skipped + $4, failed = failed + $5, checkpoint_offset = $6, checkpoint_row = $7,
                updated_at = $8, version = version + 1, lease_until = now() + interval '\(leaseInterval)'
            WHERE id = $9 RETURNING \(Self.importColumns)
            """, [
                .int(Int64(batch.count)), .int(counts.created), .int(counts.updated), .int(counts.skipped), .int(counts.failed),
                .int(batch.nextOffset), .int(Int64(batch.rowNumbers.last ?? Int(job.checkpointRow))), .int(plan.at.microseconds), .int(job.id),
            ])
        try notify(db, job.id)
        return Self.readJob(r, 0)
    }

    /// The batch's keys as the look-up sends them: its external_ids and email
    /// keys (rows that failed already have none).
    private static func keys(_ batch: RowBatch) -> (externalIDs: PGValue, emails: PGValue)? {
        var externalIDs: [String] = []
        var emails: [String] = []
        for row in 0..<batch.count where batch.failures[row] == nil {
            let external = batch.range(row, .externalID)
            if !external.isEmpty { externalIDs.append(String(decoding: batch.bytes[external], as: UTF8.self)) }
            let email = batch.range(row, RowBatch.emailKeySlot)
            if !email.isEmpty { emails.append(String(decoding: batch.bytes[email], as: UTF8.self)) }
        }
        guard !externalIDs.isEmpty || !emails.isEmpty else { return nil }
        return (.textArray(externalIDs), .textArray(emails))
    }

    /// The owners of every external_id and email key in the batch.
    private func lookUpKeys(_ db: PGConnection, _ batch: RowBatch) throws -> [ContactKey: Int64] {
        guard let keys = Self.keys(batch) else { return [:] }
        let r = try db.execute("""
            SELECT 2, external_id, id FROM contacts WHERE external_id = ANY($1::text[])
            UNION ALL SELECT 1, email_key, id FROM contacts WHERE email_key = ANY($2::text[])
            """, [keys.externalIDs, keys.emails])
        var owners: [ContactKey: Int64] = [:]
        for i in 0..<r.count {
            owners[ContactKey(kind: r.int(i, 0) ?? 0, key: r.text(i, 1) ?? "")] = r.int(i, 2)
        }
        return owners
    }

    /// The contacts that hold any key of the batch, with the keys they hold,
    /// in one statement; locked (in id order: replicas never wait on each other
    /// in a circle) unless this is a dry run. A contact locked after another
    /// transaction changed it is read as that transaction left it.
    private func loadMatchedContacts(_ db: PGConnection, _ batch: RowBatch, lock: Bool) throws
        -> (owners: [ContactKey: Int64], contacts: [Int64: ContactState])
    {
        guard let keys = Self.keys(batch) else { return ([:], [:]) }
        let columns = ContactField.allCases.map(\.name).joined(separator: ", ")
        let r = try db.execute("""
            SELECT id, kind, \(columns), updated_by_import, updated_at, email_key FROM contacts
            WHERE external_id = ANY($1::text[]) OR email_key = ANY($2::text[]) ORDER BY id
            \(lock ? "FOR UPDATE" : "")
            """, [keys.externalIDs, keys.emails])
        var owners: [ContactKey: Int64] = [:]
        var contacts: [Int64: ContactState] = [:]
        let fieldCount = ContactField.allCases.count
        for i in 0..<r.count {
            guard let id = r.int(i, 0) else { continue }
            let fields = (0..<fieldCount).map { r.text(i, 2 + $0) }
            contacts[id] = ContactState(kind: r.int(i, 1) ?? 0, fields: fields, updatedBy: r.int(i, 2 + fieldCount), updatedAt: r.int(i, 3 + fieldCount) ?? 0)
            if let external = fields[ContactField.externalID.rawValue] { owners[ContactKey(kind: ContactKey.externalID, key: external)] = id }
            if let emailKey = r.text(i, 4 + fieldCount) { owners[ContactKey(kind: ContactKey.email, key: emailKey)] = id }
        }
        return (owners, contacts)
    }

    /// Writes what the plan decided; the new contacts' ids, in row order.
    private func write(_ db: PGConnection, _ plan: BatchPlan, _ batch: RowBatch) throws -> [Int64] {
        let job = plan.job
        let at = plan.at.microseconds
        // Real ids for the new contacts, in row order.
        let newIDs = plan.newRows.isEmpty ? [] : try Self.newContactIDs(db, count: plan.newRows.count)
        let resolve = { (id: Int64) -> Int64 in id < 0 ? newIDs[Int(-id) - 1] : id }

        if !plan.newRows.isEmpty {
            let columns = ContactField.allCases.map(\.name).joined(separator: ", ")
            try db.copyIn("""
                COPY contacts (id, kind, \(columns), origin_campaign_id, created_by_import, created_at, updated_at, email_key) FROM STDIN
                """) { copy in
                for (index, row) in plan.newRows.enumerated() {
                    copy.append(newIDs[index])
                    copy.append(Int64(job.kind.rawValue))
                    for field in ContactField.all { copy.appendText(batch.bytes, batch.range(row, field)) }
                    copy.append(job.originCampaignID)
                    copy.append(job.id)
                    copy.append(at)
                    copy.append(at)
                    copy.appendText(batch.bytes, batch.range(row, RowBatch.emailKeySlot))
                    try copy.endRow()
                }
            }
        }
        if !plan.merged.isEmpty {
            let columns = ContactField.allCases.map(\.name)
            try db.copyIn("COPY merge_stage (id, kind, \(columns.joined(separator: ", ")), updated_by_import, updated_at, created_at, email_key) FROM STDIN") { copy in
                for id in plan.merged.sorted() {
                    let contact = plan.contacts[id]!
                    copy.append(id)
                    copy.append(contact.kind)
                    for value in contact.fields { copy.appendText(value) }
                    copy.append(contact.updatedBy)
                    copy.append(contact.updatedAt)
                    copy.append(Int64(0))
                    copy.appendText(contact.fields[ContactField.email.rawValue].map(FieldRules.emailKey))
                    try copy.endRow()
                }
            }
            let sets = (["kind"] + columns + ["updated_by_import", "updated_at", "email_key"]).map { "\($0) = s.\($0)" }.joined(separator: ", ")
            try db.execute("UPDATE contacts c SET \(sets) FROM merge_stage s WHERE c.id = s.id")
        }
        if !job.subscriptionIDs.isEmpty && !plan.subscribed.isEmpty {
            // ON CONFLICT: a contact already on a list stays as it was added.
            try db.execute("""
                INSERT INTO contact_subscriptions (contact_id, subscription_id, added_by_import, added_at)
                SELECT c, s, $3, $4 FROM unnest($1::bigint[]) c CROSS JOIN unnest($2::bigint[]) s ON CONFLICT DO NOTHING
                """, [.intArray(plan.subscribed.map(resolve)), .intArray(job.subscriptionIDs), .int(job.id), .int(at)])
        }
        return newIDs
    }

    /// `count` ids from the contacts' sequence. While no other connection takes
    /// ids at the same time they come as one run, and only its ends are sent.
    package static func newContactIDs(_ db: PGConnection, count: Int) throws -> [Int64] {
        let r = try db.execute("""
            SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL ELSE array_agg(v ORDER BY v) END
            FROM (SELECT nextval('contacts_id_seq') AS v FROM generate_series(1, $1)) ids
            """, [.int(Int64(count))])
        guard let first = r.int(0, 0), let last = r.int(0, 1) else { return [] }
        guard let list = r.text(0, 2) else { return Array(first...last) }
        // Interleaved with another connection's ids: the array literal, {1,2,5}.
        return list.dropFirst().dropLast().split(separator: ",").compactMap { Int64($0) }
    }

    /// Created rows packed in blocks (`CreatedRowBlock`), every other row in
    /// `import_rows`, and the rows' errors.
    private func copyRowResults(_ db: PGConnection, _ plan: BatchPlan, _ batch: RowBatch, newIDs: [Int64]) throws {
        var block = CreatedRowBlock()
        func writeBlock() throws {
            guard !block.isEmpty else { return }
            try db.execute("INSERT INTO import_created_rows (import_id, last_row, data) VALUES ($1, $2, $3)",
                           [.int(plan.job.id), .int(block.lastRow), .bytes(block.data)])
            block.removeAll()
        }
        var others = 0
        for record in plan.records {
            guard record.outcome == .created else {
                others += 1
                continue
            }
            block.add(row: Int64(batch.rowNumbers[record.row]), contactID: record.contactID.map { $0 < 0 ? newIDs[Int(-$0) - 1] : $0 },
                      offset: batch.offsets[record.row])
            if block.isFull { try writeBlock() }
        }
        try writeBlock()
        if others > 0 {
            try db.copyIn("COPY import_rows (import_id, row_number, outcome, contact_id, byte_offset, previous) FROM STDIN") { copy in
                for record in plan.records where record.outcome != .created {
                    copy.append(plan.job.id)
                    copy.append(Int64(batch.rowNumbers[record.row]))
                    copy.append(Int64(record.outcome.rawValue))
                    copy.append(record.contactID.map { $0 < 0 ? newIDs[Int(-$0) - 1] : $0 })
                    copy.append(batch.offsets[record.row])
                    if let previous = record.previous { copy.append(.bytes(previous)) } else { copy.appendNull() }
                    try copy.endRow()
                }
            }
        }
        guard !plan.errors.isEmpty else { return }
        try db.copyIn("COPY import_row_errors (import_id, row_number, seq, code, column_name, message) FROM STDIN") { copy in
            for (row, errors) in plan.errors {
                for (seq, error) in errors.enumerated() {
                    copy.append(plan.job.id)
                    copy.append(Int64(batch.rowNumbers[row]))
                    copy.append(Int64(seq))
                    copy.appendText(error.code.rawValue)
                    copy.appendText(error.column)
                    copy.appendText(error.message)
                    try copy.endRow()
                }
            }
        }
    }
}

/// A dedup key: kind 1 email (case-folded), 2 external_id.
struct ContactKey: Hashable {
    var kind: Int64
    var key: String

    static let email: Int64 = 1
    static let externalID: Int64 = 2
}

/// A contact as a batch sees and changes it.
struct ContactState {
    var kind: Int64
    var fields: [String?]
    var updatedBy: Int64?
    var updatedAt: Int64
}

/// A batch decided in memory: what each row comes to, and what to write. New
/// contacts have placeholder ids -1, -2, ... until the sequence gives real ones.
struct BatchPlan {
    struct Record {
        var row: Int
        var outcome: RowOutcome
        var contactID: Int64?
        var previous: [UInt8]?
    }

    let job: ImportJob
    let at: WallTime
    var owners: [ContactKey: Int64] = [:]
    var contacts: [Int64: ContactState] = [:]
    var records: [Record] = []
    var errors: [(Int, [RowError])] = []
    var newRows: [Int] = []
    var merged = Set<Int64>()
    var subscribed: [Int64] = []
    var counts = (created: Int64(0), updated: Int64(0), skipped: Int64(0), failed: Int64(0))
    /// Whether created contacts' keys go into `owners`, so that a later row of
    /// the batch with one of them is caught.
    var tracksNewKeys = true

    init(job: ImportJob, at: WallTime) {
        self.job = job
        self.at = at
    }

    private func text(_ batch: RowBatch, _ range: Range<Int>) -> String? {
        range.isEmpty ? nil : String(decoding: batch.bytes[range], as: UTF8.self)
    }

    mutating func decide(_ batch: RowBatch, _ row: Int) throws {
        if batch.hasFailures, let errors = batch.failures[row] {
            fail(row, errors)
            return
        }
        if owners.isEmpty && !tracksNewKeys {
            // Nothing to match against, nothing to remember: no key as text.
            create(batch, row, external: nil, emailKey: nil)
            return
        }
        let external = text(batch, batch.range(row, .externalID))
        let emailKey = text(batch, batch.range(row, RowBatch.emailKeySlot))
        var match: (id: Int64, byEmail: Bool)?
        if let external, let id = owners[ContactKey(kind: ContactKey.externalID, key: external)] {
            match = (id, false)
        } else if let emailKey, let id = owners[ContactKey(kind: ContactKey.email, key: emailKey)] {
            match = (id, true)
        }
        guard let match else {
            create(batch, row, external: external, emailKey: emailKey)
            return
        }
        if job.onDuplicate == .skip {
            record(row, .skipped, contactID: match.id)
            return
        }
        try merge(batch, row, into: match.id, matchedByEmail: match.byEmail, external: external, emailKey: emailKey)
    }

    private mutating func create(_ batch: RowBatch, _ row: Int, external: String?, emailKey: String?) {
        guard !job.validateOnly else {
            record(row, .created, contactID: nil)
            return
        }
        newRows.append(row)
        let id = -Int64(newRows.count)
        if tracksNewKeys {
            if let external { owners[ContactKey(kind: ContactKey.externalID, key: external)] = id }
            if let emailKey { owners[ContactKey(kind: ContactKey.email, key: emailKey)] = id }
        }
        if !job.subscriptionIDs.isEmpty { subscribed.append(id) }
        record(row, .created, contactID: id)
    }

    private mutating func merge(_ batch: RowBatch, _ row: Int, into id: Int64, matchedByEmail: Bool, external: String?, emailKey: String?) throws {
        guard id > 0 else {
            // Only a row the in-file check would have caught matches a contact of this batch.
            fail(row, [RowError(code: .conflictingContact, column: external == nil ? "email" : "external_id",
                                message: "the row matches a contact an earlier row of this file creates")])
            return
        }
        // Gone since the look-up (a revert on another replica): decide the batch again.
        guard var contact = contacts[id] else { throw PostgresImportStore.Contended() }
        let oldExternal = contact.fields[ContactField.externalID.rawValue]
        if matchedByEmail, let external, let oldExternal, external != oldExternal {
            conflict(row, external: external, "the email belongs to contact \(ResourceKind.contact.format(id)), whose external_id is \(oldExternal)")
            return
        }
        let oldEmailKey = contact.fields[ContactField.email.rawValue].map(FieldRules.emailKey)
        let emailKeyChanges = emailKey != nil && emailKey != oldEmailKey
        if emailKeyChanges, let emailKey, let other = owners[ContactKey(kind: ContactKey.email, key: emailKey)], other != id {
            conflict(row, external: external,
                     "the row matches contact \(ResourceKind.contact.format(id)), but its email belongs to contact \(ResourceKind.contact.format(other))")
            return
        }
        if job.validateOnly {
            record(row, .updated, contactID: id)
            return
        }
        var previous = PreviousValues(kind: contact.kind, updatedBy: contact.updatedBy, updatedAt: contact.updatedAt)
        for field in ContactField.all {
            let range = batch.range(row, field)
            guard !range.isEmpty, field != .email || emailKeyChanges else { continue }
            let value = String(decoding: batch.bytes[range], as: UTF8.self)
            let old = contact.fields[field.rawValue]
            guard value != old else { continue }
            previous.fields.append((field.rawValue, old))
            contact.fields[field.rawValue] = value
        }
        // A lead becomes a contact when the upload says contact; a contact never
        // becomes a lead; an upload that did not say keeps the kind.
        if job.kindExplicit && job.kind == .contact { contact.kind = Int64(ContactKind.contact.rawValue) }
        contact.updatedBy = job.id
        contact.updatedAt = at.microseconds
        contacts[id] = contact
        merged.insert(id)
        // The keys move with the contact's columns (written with it).
        if emailKeyChanges, let emailKey {
            if let oldEmailKey { owners[ContactKey(kind: ContactKey.email, key: oldEmailKey)] = nil }
            owners[ContactKey(kind: ContactKey.email, key: emailKey)] = id
        }
        if let external, oldExternal == nil {
            owners[ContactKey(kind: ContactKey.externalID, key: external)] = id
        }
        if !job.subscriptionIDs.isEmpty { subscribed.append(id) }
        record(row, .updated, contactID: id, previous: previous.encoded())
    }

    private mutating func conflict(_ row: Int, external: String?, _ message: String) {
        fail(row, [RowError(code: .conflictingContact, column: external == nil ? "email" : "external_id", message: message)])
    }

    private mutating func fail(_ row: Int, _ errors: [RowError]) {
        record(row, .failed, contactID: nil)
        if !errors.isEmpty { self.errors.append((row, errors)) }
    }

    private mutating func record(_ row: Int, _ outcome: RowOutcome, contactID: Int64?, previous: [UInt8]? = nil) {
        switch outcome {
        case .created: counts.created += 1
        case .updated: counts.updated += 1
        case .skipped: counts.skipped += 1
        case .failed: counts.failed += 1
        }
        records.append(Record(row: row, outcome: outcome, contactID: contactID, previous: previous))
    }
}
