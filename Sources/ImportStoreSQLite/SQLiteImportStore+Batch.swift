import ImportEngine
import SQLiteDB

/// Applying a batch of prepared rows: the import's hot path.
extension SQLiteImportStore {
    public func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob {
        try await writer.run { db in
            try db.transaction {
                var applier = try BatchApplier(db: db, job: job, at: at)
                for row in 0..<batch.count {
                    try applier.apply(batch, row)
                }
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
    private let insertContact: Statement
    private let insertRow: Statement
    private let insertError: Statement
    private let insertSubscription: Statement
    private let byExternalID: Statement
    private let byEmailKey: Statement
    private let loadContact: Statement
    private let mergeContact: Statement

    static let fieldCount = ContactField.allCases.count

    static func emailKey(_ email: String) -> String {
        var key: [UInt8] = []
        FieldRules.appendEmailKey(ArraySlice(email.utf8), to: &key)
        return String(decoding: key, as: UTF8.self)
    }

    init(db: Connection, job: ImportJob, at: WallTime) throws {
        self.db = db
        self.job = job
        self.at = at
        let columns = Schema.contactColumns.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: Self.fieldCount).joined(separator: ", ")
        insertContact = try db.cached("""
            INSERT INTO contacts (kind, \(columns), email_key, origin_campaign_id, created_by_import, created_at, updated_at)
            VALUES (?, \(placeholders), ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """)
        insertRow = try db.cached("INSERT INTO import_rows (import_id, row_number, outcome, contact_id, offset, previous) VALUES (?, ?, ?, ?, ?, ?)")
        insertError = try db.cached("INSERT INTO import_row_errors (import_id, row_number, seq, code, column_name, message) VALUES (?, ?, ?, ?, ?, ?)")
        insertSubscription = try db.cached(
            "INSERT OR IGNORE INTO contact_subscriptions (contact_id, subscription_id, added_by_import, added_at) VALUES (?, ?, ?, ?)")
        byExternalID = try db.cached("SELECT id FROM contacts WHERE external_id = ?")
        byEmailKey = try db.cached("SELECT id FROM contacts WHERE email_key = ?")
        loadContact = try db.cached("SELECT kind, \(columns), updated_by_import, updated_at FROM contacts WHERE id = ?")
        let merges = Schema.contactColumns.map { "\($0) = COALESCE(?, \($0))" }.joined(separator: ", ")
        mergeContact = try db.cached("""
            UPDATE contacts SET \(merges), email_key = COALESCE(?, email_key), kind = ?, updated_by_import = ?, updated_at = ?
            WHERE id = ?
            """)
    }

    mutating func apply(_ batch: RowBatch, _ row: Int) throws {
        if let errors = batch.failures[row] {
            try fail(batch, row, errors)
            return
        }
        if job.validateOnly {
            try dryRun(batch, row)
            return
        }
        // Most rows are new: try to insert, and look for a match only on conflict.
        insertContact.reset()
        try insertContact.bind(1, Int64(job.kind.rawValue))
        for field in ContactField.allCases {
            try insertContact.bindText(Int32(2 + field.rawValue), batch.bytes, batch.range(row, field))
        }
        let base = Int32(2 + Self.fieldCount)
        try insertContact.bindText(base, batch.bytes, batch.range(row, RowBatch.emailKeySlot))
        if let campaign = job.originCampaignID { try insertContact.bind(base + 1, campaign) } else { try insertContact.bindNull(base + 1) }
        try insertContact.bind(base + 2, job.id)
        try insertContact.bind(base + 3, at.microseconds)
        try insertContact.bind(base + 4, at.microseconds)
        try insertContact.step()
        if db.changes == 1 {
            let id = db.lastInsertRowID
            for subscription in job.subscriptionIDs {
                try insertSubscription.execute([.integer(id), .integer(subscription), .integer(job.id), .integer(at.microseconds)])
            }
            try record(batch, row, .created, contactID: id, previous: nil)
            return
        }
        guard let (existing, byEmail) = try match(batch, row) else {
            throw ImportError.failedPrecondition("a contact conflicted on insert but matches neither its external_id nor its email")
        }
        if job.onDuplicate == .skip {
            try record(batch, row, .skipped, contactID: existing, previous: nil)
            return
        }
        try merge(batch, row, into: existing, matchedByEmail: byEmail)
    }

    /// The existing contact a row matches: by external_id, then by email.
    private func match(_ batch: RowBatch, _ row: Int) throws -> (Int64, byEmail: Bool)? {
        let externalID = batch.range(row, .externalID)
        if !externalID.isEmpty {
            byExternalID.reset()
            try byExternalID.bindText(1, batch.bytes, externalID)
            if try byExternalID.step() {
                let id = byExternalID.int64(0)
                byExternalID.reset()
                return (id, false)
            }
        }
        let key = batch.range(row, RowBatch.emailKeySlot)
        if !key.isEmpty {
            byEmailKey.reset()
            try byEmailKey.bindText(1, batch.bytes, key)
            if try byEmailKey.step() {
                let id = byEmailKey.int64(0)
                byEmailKey.reset()
                return (id, true)
            }
        }
        return nil
    }

    /// UPDATE: the row's non-empty fields go into the contact; what they replace
    /// is recorded for a revert.
    private mutating func merge(_ batch: RowBatch, _ row: Int, into id: Int64, matchedByEmail: Bool) throws {
        loadContact.reset()
        try loadContact.bind(1, id)
        guard try loadContact.step() else { throw ImportError.failedPrecondition("contact \(id) vanished during an import") }
        let oldKind = loadContact.int64(0)
        var old: [String?] = []
        for field in ContactField.allCases {
            old.append(loadContact.text(Int32(1 + field.rawValue)))
        }
        let oldUpdatedBy = loadContact.optionalInt64(Int32(1 + Self.fieldCount))
        let oldUpdatedAt = loadContact.int64(Int32(2 + Self.fieldCount))
        loadContact.reset()

        let rowExternalID = batch.range(row, .externalID)
        if matchedByEmail, !rowExternalID.isEmpty, let existing = old[ContactField.externalID.rawValue],
            existing != String(decoding: batch.bytes[rowExternalID], as: UTF8.self)
        {
            try conflict(batch, row, "the email belongs to contact \(ResourceKind.contact.format(id)), whose external_id is \(existing)")
            return
        }
        var previous = PreviousValues()
        mergeContact.reset()
        for field in ContactField.allCases {
            let range = batch.range(row, field)
            var value = range.isEmpty ? nil : String(decoding: batch.bytes[range], as: UTF8.self)
            if field == .email, let current = old[field.rawValue], let incoming = value,
                String(decoding: batch.bytes[batch.range(row, RowBatch.emailKeySlot)], as: UTF8.self) == Self.emailKey(current)
            {
                value = nil  // the same address in other letter case: no change
                _ = incoming
            }
            if let value, value != old[field.rawValue] {
                previous.fields.append((field.rawValue, old[field.rawValue]))
                try mergeContact.bindText(Int32(1 + field.rawValue), batch.bytes, range)
            } else {
                try mergeContact.bindNull(Int32(1 + field.rawValue))
            }
        }
        let base = Int32(1 + Self.fieldCount)
        let emailChanged = previous.fields.contains { $0.0 == ContactField.email.rawValue }
        if !emailChanged { try mergeContact.bindNull(Int32(1 + ContactField.email.rawValue)) }
        try mergeContact.bindText(base, batch.bytes, emailChanged ? batch.range(row, RowBatch.emailKeySlot) : 0..<0)
        // A lead becomes a contact; a contact never becomes a lead.
        let newKind = job.kind == .contact ? Int64(ContactKind.contact.rawValue) : oldKind
        try mergeContact.bind(base + 1, newKind)
        try mergeContact.bind(base + 2, job.id)
        try mergeContact.bind(base + 3, at.microseconds)
        try mergeContact.bind(base + 4, id)
        do {
            try mergeContact.step()
        } catch let error as SQLiteError where error.isUniqueViolation {
            mergeContact.reset()
            let which = error.message.contains("email_key") ? "email" : "external_id"
            try conflict(batch, row, "the row matches contact \(ResourceKind.contact.format(id)), but its \(which) belongs to another contact")
            return
        }
        mergeContact.reset()
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

    /// A dry run: the outcome the row would have, nothing written to contacts.
    private mutating func dryRun(_ batch: RowBatch, _ row: Int) throws {
        guard let (existing, byEmail) = try match(batch, row) else {
            try record(batch, row, .created, contactID: nil, previous: nil)
            return
        }
        if job.onDuplicate == .skip {
            try record(batch, row, .skipped, contactID: existing, previous: nil)
            return
        }
        // Would the merge collide with another contact?
        let externalID = batch.range(row, .externalID)
        let key = batch.range(row, RowBatch.emailKeySlot)
        if !byEmail && !key.isEmpty {
            byEmailKey.reset()
            try byEmailKey.bindText(1, batch.bytes, key)
            let other = try byEmailKey.step() ? byEmailKey.int64(0) : existing
            byEmailKey.reset()
            if other != existing {
                try conflict(batch, row, "the row matches contact \(ResourceKind.contact.format(existing)), but its email belongs to another contact")
                return
            }
        }
        if byEmail && !externalID.isEmpty {
            loadContact.reset()
            try loadContact.bind(1, existing)
            let current = try loadContact.step() ? loadContact.text(Int32(1 + ContactField.externalID.rawValue)) : nil
            loadContact.reset()
            if let current, current != String(decoding: batch.bytes[externalID], as: UTF8.self) {
                try conflict(batch, row, "the email belongs to contact \(ResourceKind.contact.format(existing)), whose external_id is \(current)")
                return
            }
        }
        try record(batch, row, .updated, contactID: existing, previous: nil)
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
        insertRow.reset()
        try insertRow.bind(1, job.id)
        try insertRow.bind(2, Int64(batch.rowNumbers[row]))
        try insertRow.bind(3, Int64(outcome.rawValue))
        if let contactID { try insertRow.bind(4, contactID) } else { try insertRow.bindNull(4) }
        try insertRow.bind(5, batch.offsets[row])
        if let previous { try insertRow.bind(6, .blob(previous)) } else { try insertRow.bindNull(6) }
        try insertRow.step()
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
