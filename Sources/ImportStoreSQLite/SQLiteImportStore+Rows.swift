import ImportEngine
import SQLiteDB

/// Row results, summaries, and revert.
extension SQLiteImportStore {
    public func rows(importID: Int64, outcome: RowOutcome?, afterRow: Int64, limit: Int) async throws -> [ImportRowRecord] {
        try await reader.run { db in
            let filter: String
            if let outcome {
                // `outcome <> 1` lets SQLite use the partial index of non-CREATED rows.
                filter = outcome == .created ? "AND outcome = 1" : "AND outcome = \(outcome.rawValue) AND outcome <> 1"
            } else {
                filter = ""
            }
            var records = try db.cached("""
                SELECT row_number, outcome, contact_id, offset, revert_state FROM import_rows
                WHERE import_id = ? AND row_number > ? \(filter) ORDER BY row_number LIMIT ?
                """).query([.integer(importID), .integer(afterRow), .integer(Int64(limit))]) { r in
                ImportRowRecord(
                    rowNumber: r.int64(0), outcome: RowOutcome(rawValue: r.int(1)) ?? .failed, contactID: r.optionalInt64(2), errors: [],
                    offset: r.int64(3), revertKept: r.optionalInt64(4) == 2)
            }
            if outcome == nil || outcome == .created {
                let created = try CreatedRows.read(db, importID: importID, afterRow: afterRow, limit: limit).map {
                    ImportRowRecord(rowNumber: $0.row, outcome: .created, contactID: $0.contactID, errors: [], offset: $0.offset, revertKept: $0.kept)
                }
                records = mergedByRow(records, created, limit: limit) { $0.rowNumber }
            }
            guard let first = records.first?.rowNumber, let last = records.last?.rowNumber, outcome != .created else { return records }
            var errors: [Int64: [RowError]] = [:]
            try db.cached("""
                SELECT row_number, code, column_name, message FROM import_row_errors
                WHERE import_id = ? AND row_number BETWEEN ? AND ? ORDER BY row_number, seq
                """).forEachRow([.integer(importID), .integer(first), .integer(last)]) { r in
                errors[r.int64(0), default: []].append(RowError(
                    code: RowErrorCode(rawValue: r.text(1) ?? "") ?? .malformedRow, column: r.text(2) ?? "", message: r.text(3) ?? ""))
            }
            for i in records.indices {
                records[i].errors = errors[records[i].rowNumber] ?? []
            }
            return records
        }
    }

    public func summary(importID: Int64, by grouping: RowGrouping) async throws -> [(key: String, count: Int64)] {
        try await reader.run { db in
            switch grouping {
            case .outcome:
                // The counters are committed with the rows they count.
                guard let job = try Self.job(db, importID) else { return [] }
                return job.outcomeCounts
            case .errorCode, .column:
                let key = grouping == .errorCode ? "code" : "CASE column_name WHEN '' THEN '(row)' ELSE column_name END"
                return try db.cached("""
                    SELECT \(key) AS k, count(DISTINCT row_number) AS n FROM import_row_errors WHERE import_id = ?
                    GROUP BY k ORDER BY n DESC, k
                    """).query([.integer(importID)]) { (key: $0.text(0) ?? "", count: $0.int64(1)) }
            }
        }
    }

    /// Reverts in chunks of rows, each chunk one transaction; every row is
    /// marked as it is done, so a revert broken off by a crash goes on where it
    /// stopped when asked again.
    public func revert(job: ImportJob, at: WallTime) async throws -> ImportJob {
        try await syncKeys(importID: job.id)
        var after: Int64 = 0
        let state = writerState
        while true {
            let start = after
            let last = try await writer.run { db -> Int64? in
                // A revert gives keys back without the filter of existing keys:
                // it is built again when the next run begins.
                state.existingKeys.invalidate()
                return try db.transaction { try Self.revertChunk(db, job: job, after: start, at: at) }
            }
            guard let last else { break }
            after = last
        }
        // Then the packed created rows, a block a transaction.
        while try await writer.run({ db in try db.transaction { try Self.revertCreatedBlock(db, job: job) } }) {}
        return try await writer.run { db in
            try db.transaction {
                guard let current = try Self.job(db, job.id) else { throw StoreError.notFound(job.id) }
                return try Self.transition(db, id: job.id, event: .revert, error: current.revertNote, at: at).job
            }
        }
    }

    /// One chunk of a revert; the last row number done, or nil when none was left.
    private static func revertChunk(_ db: Connection, job: ImportJob, after: Int64, at: WallTime) throws -> Int64? {
        let rows = try db.cached("""
            SELECT row_number, outcome, contact_id, previous FROM import_rows
            WHERE import_id = ? AND row_number > ? AND outcome IN (1, 2) AND revert_state IS NULL AND contact_id IS NOT NULL
            ORDER BY row_number LIMIT 5000
            """).query([.integer(job.id), .integer(after)]) { r in (r.int64(0), r.int(1), r.int64(2), r.isNull(3) ? nil : r.blob(3)) }
        guard let lastRow = rows.last?.0 else { return nil }
        let mark = try db.cached("UPDATE import_rows SET revert_state = ? WHERE import_id = ? AND row_number = ?")
        var reverted: Int64 = 0
        var kept: Int64 = 0
        for (rowNumber, outcome, contactID, previousBlob) in rows {
            let undone = try revertRow(db, job: job, outcome: RowOutcome(rawValue: outcome) ?? .failed, contactID: contactID, previous: previousBlob)
            try mark.execute([.integer(undone ? 1 : 2), .integer(job.id), .integer(rowNumber)])
            if undone { reverted += 1 } else { kept += 1 }
        }
        try countReverted(db, job: job, reverted: reverted, kept: kept)
        return lastRow
    }

    /// Reverts the rows of the first block of created rows not reverted yet,
    /// marking those it keeps; false when none was left.
    private static func revertCreatedBlock(_ db: Connection, job: ImportJob) throws -> Bool {
        guard let (lastRow, entries) = try db.cached("""
            SELECT last_row, data FROM import_created_rows WHERE import_id = ? AND reverted = 0 ORDER BY last_row LIMIT 1
            """).queryOne([.integer(job.id)], { r in (r.int64(0), r.withBytes(1) { CreatedRowBlock.decode($0) }) })
        else { return false }
        guard let entries else { throw UnreadableBlock(importID: job.id, afterRow: lastRow) }
        var marked = CreatedRowBlock()
        var reverted: Int64 = 0
        var kept: Int64 = 0
        for entry in entries {
            var keep = entry.kept
            if let contactID = entry.contactID, !entry.kept {
                keep = !(try revertRow(db, job: job, outcome: .created, contactID: contactID, previous: nil))
                if keep { kept += 1 } else { reverted += 1 }
            }
            marked.add(row: entry.row, contactID: entry.contactID, offset: entry.offset, kept: keep)
        }
        try db.cached("UPDATE import_created_rows SET reverted = 1, data = ? WHERE import_id = ? AND last_row = ?")
            .execute([.blob(marked.data), .integer(job.id), .integer(lastRow)])
        try countReverted(db, job: job, reverted: reverted, kept: kept)
        return true
    }

    private static func countReverted(_ db: Connection, job: ImportJob, reverted: Int64, kept: Int64) throws {
        try db.cached("UPDATE imports SET reverted_rows = reverted_rows + ?, revert_kept_rows = revert_kept_rows + ?, version = version + 1 WHERE id = ?")
            .execute([.integer(reverted), .integer(kept), .integer(job.id)])
    }

    private static let restoreSQL = "UPDATE contacts SET "
        + Schema.contactColumns.map { "\($0) = CASE WHEN ? THEN ? ELSE \($0) END" }.joined(separator: ", ")
        + ", kind = ?, updated_by_import = ?, updated_at = ? WHERE id = ?"

    /// Undoes what one row did to its contact: true if it did, false if the
    /// contact stays as it is (a later import changed it).
    private static func revertRow(_ db: Connection, job: ImportJob, outcome: RowOutcome, contactID: Int64, previous previousBlob: [UInt8]?) throws -> Bool {
        let current = try db.cached("SELECT updated_by_import, email, external_id FROM contacts WHERE id = ?")
        guard let (lastUpdater, email, externalID) = try current.queryOne([.integer(contactID)], { ($0.optionalInt64(0), $0.text(1), $0.text(2)) }) else {
            // The contact is gone already.
            return true
        }
        let emailKey = email.map(FieldRules.emailKey)
        if outcome == .created && (lastUpdater == nil || lastUpdater == job.id) {
            try ContactKeys.replace(db, contact: contactID, kind: ContactKeys.email, old: emailKey, new: nil)
            try ContactKeys.replace(db, contact: contactID, kind: ContactKeys.externalID, old: externalID, new: nil)
            try db.cached("DELETE FROM contact_subscriptions WHERE contact_id = ?").execute([.integer(contactID)])
            try db.cached("DELETE FROM contacts WHERE id = ?").execute([.integer(contactID)])
            return true
        }
        try db.cached("DELETE FROM contact_subscriptions WHERE contact_id = ? AND added_by_import = ?").execute([.integer(contactID), .integer(job.id)])
        guard outcome == .updated, lastUpdater == job.id, let blob = previousBlob, let previous = PreviousValues.decode(blob) else {
            // A later import changed the contact: it stays as it is.
            return false
        }
        var restored: [Int: String?] = [:]
        for (slot, value) in previous.fields { restored[slot] = value }
        // The address it had may belong to someone else by now.
        let emailBack = restored[ContactField.email.rawValue]
        let keyBack = emailBack.map { $0.map(FieldRules.emailKey) } ?? emailKey
        if keyBack != emailKey, let keyBack, let owner = try ContactKeys.owner(db, kind: ContactKeys.email, key: keyBack), owner != contactID {
            return false
        }
        var bindings: [SQLValue] = []
        for field in ContactField.all {
            if let value = restored[field.rawValue] {
                bindings += [.integer(1), SQLValue(value)]
            } else {
                bindings += [.integer(0), .null]
            }
        }
        bindings += [.integer(previous.kind), SQLValue(previous.updatedBy), .integer(previous.updatedAt), .integer(contactID)]
        try db.cached(restoreSQL).execute(bindings)
        if keyBack != emailKey {
            try ContactKeys.replace(db, contact: contactID, kind: ContactKeys.email, old: emailKey, new: keyBack)
        }
        if let externalBack = restored[ContactField.externalID.rawValue], externalBack != externalID {
            try ContactKeys.replace(db, contact: contactID, kind: ContactKeys.externalID, old: externalID, new: externalBack)
        }
        return true
    }
}
