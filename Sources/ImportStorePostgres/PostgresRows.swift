import ImportEngine
import PostgresDB

/// Row results, summaries, and revert.
extension PostgresImportStore {
    public func rows(importID: Int64, outcome: RowOutcome?, afterRow: Int64, limit: Int) async throws -> [ImportRowRecord] {
        try await run { db in
            let filter = outcome.map { $0 == .created ? "AND outcome = 1" : "AND outcome = \($0.rawValue) AND outcome <> 1" } ?? ""
            let r = try db.execute("""
                SELECT row_number, outcome, contact_id, byte_offset, revert_state FROM import_rows
                WHERE import_id = $1 AND row_number > $2 \(filter) ORDER BY row_number LIMIT $3
                """, [.int(importID), .int(afterRow), .int(Int64(limit))])
            var records = (0..<r.count).map { i in
                ImportRowRecord(
                    rowNumber: r.int(i, 0) ?? 0, outcome: RowOutcome(rawValue: Int(r.int(i, 1) ?? 0)) ?? .failed, contactID: r.int(i, 2),
                    errors: [], offset: r.int(i, 3) ?? 0, revertKept: r.int(i, 4) == 2)
            }
            if outcome == nil || outcome == .created {
                let created = try Self.createdRows(db, importID: importID, afterRow: afterRow, limit: limit).map {
                    ImportRowRecord(rowNumber: $0.row, outcome: .created, contactID: $0.contactID, errors: [], offset: $0.offset, revertKept: $0.kept)
                }
                records = mergedByRow(records, created, limit: limit) { $0.rowNumber }
            }
            guard let first = records.first?.rowNumber, let last = records.last?.rowNumber, outcome != .created else { return records }
            let e = try db.execute("""
                SELECT row_number, code, column_name, message FROM import_row_errors
                WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 ORDER BY row_number, seq
                """, [.int(importID), .int(first), .int(last)])
            var errors: [Int64: [RowError]] = [:]
            for i in 0..<e.count {
                errors[e.int(i, 0) ?? 0, default: []].append(RowError(
                    code: RowErrorCode(rawValue: e.text(i, 1) ?? "") ?? .malformedRow, column: e.text(i, 2) ?? "", message: e.text(i, 3) ?? ""))
            }
            for i in records.indices {
                records[i].errors = errors[records[i].rowNumber] ?? []
            }
            return records
        }
    }

    /// The packed created rows after `afterRow`, in row order, at most `limit`.
    static func createdRows(_ db: PGConnection, importID: Int64, afterRow: Int64, limit: Int) throws -> [CreatedRowBlock.Entry] {
        var entries: [CreatedRowBlock.Entry] = []
        // The next block, one at a time: each holds at least one row past
        // `afterRow`, and the loop stops once `limit` rows are taken.
        var last = afterRow
        while entries.count < limit {
            let r = try db.execute("""
                SELECT data FROM import_created_rows WHERE import_id = $1 AND last_row > $2 ORDER BY last_row LIMIT 1
                """, [.int(importID), .int(last)])
            guard r.count == 1 else { break }
            guard let decoded = r.bytes(0, 0)?.withUnsafeBytes({ CreatedRowBlock.decode($0) }), let end = decoded.last?.row else {
                throw UnreadableBlock(importID: importID, afterRow: last)
            }
            for entry in decoded where entry.row > afterRow && entries.count < limit {
                entries.append(entry)
            }
            last = end
        }
        return entries
    }

    public func summary(importID: Int64, by grouping: RowGrouping) async throws -> [(key: String, count: Int64)] {
        try await run { db in
            switch grouping {
            case .outcome:
                // The counters are committed with the rows they count.
                guard let job = try Self.job(db, importID) else { return [] }
                return job.outcomeCounts
            case .errorCode, .column:
                let key = grouping == .errorCode ? "code" : "CASE column_name WHEN '' THEN '(row)' ELSE column_name END"
                let r = try db.execute("""
                    SELECT \(key) AS k, count(DISTINCT row_number) AS n FROM import_row_errors WHERE import_id = $1
                    GROUP BY 1 ORDER BY n DESC, (\(key)) COLLATE "C"
                    """, [.int(importID)])
                return (0..<r.count).map { (key: r.text($0, 0) ?? "", count: r.int($0, 1) ?? 0) }
            }
        }
    }

    /// Reverts in chunks of rows, each chunk one transaction; every row is
    /// marked as it is done, so a revert broken off goes on where it stopped.
    public func revert(job: ImportJob, at: WallTime) async throws -> ImportJob {
        var after: Int64 = 0
        while true {
            let start = after
            let last = try await run { db -> Int64? in
                try db.transaction { try Self.revertChunk(db, job: job, after: start) }
            }
            guard let last else { break }
            after = last
        }
        // Then the packed created rows, a block a transaction.
        while try await run({ db in try db.transaction { try Self.revertCreatedBlock(db, job: job) } }) {}
        return try await run { db in
            try db.transaction {
                guard let current = try Self.job(db, job.id) else { throw StoreError.notFound(job.id) }
                return try self.transition(db, id: job.id, event: .revert, error: current.revertNote, at: at).job
            }
        }
    }

    /// Reverts the rows of the first block of created rows not reverted yet,
    /// marking those it keeps; false when none was left. As for a created row
    /// of `import_rows`: its contact goes unless a later import changed it,
    /// which keeps it (without this import's subscriptions).
    private static func revertCreatedBlock(_ db: PGConnection, job: ImportJob) throws -> Bool {
        let block = try db.execute("""
            SELECT last_row, data FROM import_created_rows WHERE import_id = $1 AND NOT reverted ORDER BY last_row LIMIT 1 FOR UPDATE
            """, [.int(job.id)])
        guard block.count == 1, let lastRow = block.int(0, 0) else { return false }
        guard let entries = block.bytes(0, 1)?.withUnsafeBytes({ CreatedRowBlock.decode($0) }) else {
            throw UnreadableBlock(importID: job.id, afterRow: lastRow)
        }
        // Lock the contacts in id order first: replicas never wait in a circle.
        let ids = entries.compactMap { $0.kept ? nil : $0.contactID }
        let contacts = try db.execute("SELECT id, updated_by_import FROM contacts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
                                      [.intArray(ids)])
        var changedByOthers = Set<Int64>()
        var present = Set<Int64>()
        for i in 0..<contacts.count {
            guard let id = contacts.int(i, 0) else { continue }
            present.insert(id)
            if let updater = contacts.int(i, 1), updater != job.id { changedByOthers.insert(id) }
        }
        var marked = CreatedRowBlock()
        var deleted: [Int64] = []
        var keptIDs: [Int64] = []
        for entry in entries {
            var keep = entry.kept
            if let id = entry.contactID, !entry.kept, present.contains(id) {
                keep = changedByOthers.contains(id)
                if keep { keptIDs.append(id) } else { deleted.append(id) }
            }
            marked.add(row: entry.row, contactID: entry.contactID, offset: entry.offset, kept: keep)
        }
        if !deleted.isEmpty {
            try db.execute("DELETE FROM contact_subscriptions WHERE contact_id = ANY($1::bigint[])", [.intArray(deleted)])
            try db.execute("DELETE FROM contacts WHERE id = ANY($1::bigint[])", [.intArray(deleted)])
        }
        if !keptIDs.isEmpty {
            try db.execute("DELETE FROM contact_subscriptions WHERE contact_id = ANY($1::bigint[]) AND added_by_import = $2",
                           [.intArray(keptIDs), .int(job.id)])
        }
        try db.execute("UPDATE import_created_rows SET reverted = true, data = $1 WHERE import_id = $2 AND last_row = $3",
                       [.bytes(marked.data), .int(job.id), .int(lastRow)])
        // Rows whose contact was gone already count as reverted, as in `revertChunk`.
        let done = entries.filter { !$0.kept && $0.contactID != nil }.count - keptIDs.count
        try db.execute("UPDATE imports SET reverted_rows = reverted_rows + $1, revert_kept_rows = revert_kept_rows + $2, version = version + 1 WHERE id = $3",
                       [.int(Int64(done)), .int(Int64(keptIDs.count)), .int(job.id)])
        return true
    }

    /// One chunk of a revert; the last row number done, or nil when none was left.
    private static func revertChunk(_ db: PGConnection, job: ImportJob, after: Int64) throws -> Int64? {
        let rows = try db.execute("""
            SELECT r.row_number, r.outcome, r.contact_id, r.previous, c.updated_by_import, c.email, NULL, c.id IS NOT NULL
            FROM import_rows r LEFT JOIN contacts c ON c.id = r.contact_id
            WHERE r.import_id = $1 AND r.row_number > $2 AND r.outcome IN (1, 2) AND r.revert_state IS NULL AND r.contact_id IS NOT NULL
            ORDER BY r.row_number LIMIT 2000
            """, [.int(job.id), .int(after)])
        guard rows.count > 0, let lastRow = rows.int(rows.count - 1, 0) else { return nil }
        // Lock the contacts in id order first: replicas never wait in a circle.
        let ids = (0..<rows.count).compactMap { rows.int($0, 2) }
        try db.execute("SELECT id FROM contacts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", [.intArray(ids)])
        var done: [Int64] = []
        var kept: [Int64] = []
        var deleted: [Int64] = []
        for i in 0..<rows.count {
            let rowNumber = rows.int(i, 0) ?? 0
            let outcome = rows.int(i, 1) ?? 0
            let contactID = rows.int(i, 2) ?? 0
            guard rows.bool(i, 7) == true else {
                done.append(rowNumber)  // the contact is gone already
                continue
            }
            var lastUpdater = rows.int(i, 4)
            var email = rows.text(i, 5)
            if outcome == Int64(RowOutcome.updated.rawValue) {
                // An earlier row of this chunk may have restored it already: read it as it is now.
                let now = try db.execute("SELECT updated_by_import, email FROM contacts WHERE id = $1", [.int(contactID)])
                guard now.count == 1 else {
                    done.append(rowNumber)
                    continue
                }
                (lastUpdater, email) = (now.int(0, 0), now.text(0, 1))
            }
            if outcome == Int64(RowOutcome.created.rawValue) && (lastUpdater == nil || lastUpdater == job.id) {
                deleted.append(contactID)
                done.append(rowNumber)
                continue
            }
            try db.execute("DELETE FROM contact_subscriptions WHERE contact_id = $1 AND added_by_import = $2", [.int(contactID), .int(job.id)])
            guard outcome == Int64(RowOutcome.updated.rawValue), lastUpdater == job.id, let blob = rows.bytes(i, 3),
                  let previous = PreviousValues.decode(blob)
            else {
                kept.append(rowNumber)  // a later import changed the contact: it stays as it is
                continue
            }
            var restored: [Int: String?] = [:]
            for (slot, value) in previous.fields { restored[slot] = value }
            // The address it had may belong to someone else by now.
            let emailKey = email.map(FieldRules.emailKey)
            let keyBack = restored[ContactField.email.rawValue].map { $0.map(FieldRules.emailKey) } ?? emailKey
            if keyBack != emailKey, let keyBack {
                let owner = try db.execute("SELECT id FROM contacts WHERE email_key = $1", [.text(keyBack)])
                if owner.count == 1, owner.int(0, 0) != contactID {
                    kept.append(rowNumber)
                    continue
                }
            }
            var sets: [String] = []
            var values: [PGValue] = []
            for field in ContactField.all {
                guard let value = restored[field.rawValue] else { continue }
                values.append(value.map { .text($0) } ?? .null)
                sets.append("\(field.name) = $\(values.count)")
            }
            if keyBack != emailKey {
                // The key goes back with the address (`keyBack` is free, checked above).
                values.append(keyBack.map { .text($0) } ?? .null)
                sets.append("email_key = $\(values.count)")
            }
            values += [.int(previous.kind), previous.updatedBy.map { .int($0) } ?? .null, .int(previous.updatedAt), .int(contactID)]
            let n = values.count
            sets += ["kind = $\(n - 3)", "updated_by_import = $\(n - 2)", "updated_at = $\(n - 1)"]
            try db.execute("UPDATE contacts SET \(sets.joined(separator: ", ")) WHERE id = $\(n)", values)
            done.append(rowNumber)
        }
        if !deleted.isEmpty {
            try db.execute("DELETE FROM contact_subscriptions WHERE contact_id = ANY($1::bigint[])", [.intArray(deleted)])
            try db.execute("DELETE FROM contacts WHERE id = ANY($1::bigint[])", [.intArray(deleted)])
        }
        for (state, rowNumbers) in [(1, done), (2, kept)] where !rowNumbers.isEmpty {
            try db.execute("UPDATE import_rows SET revert_state = $1 WHERE import_id = $2 AND row_number = ANY($3::bigint[])",
                           [.int(Int64(state)), .int(job.id), .intArray(rowNumbers)])
        }
        try db.execute("UPDATE imports SET reverted_rows = reverted_rows + $1, revert_kept_rows = revert_kept_rows + $2, version = version + 1 WHERE id = $3",
                       [.int(Int64(done.count)), .int(Int64(kept.count)), .int(job.id)])
        return lastRow
    }
}
