import ImportEngine
import SQLiteDB

/// Applying a batch of prepared rows: the import's hot path.
extension SQLiteImportStore {
    public func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob {
        let state = writerState
        return try await writer.run { db in
            // Moved out of the dictionary into the applier (one copy only, or
            // every append would copy the buffers), and back after the commit.
            var applier = try BatchApplier(db: db, job: job, at: at, keys: state.keys.removeValue(forKey: job.id), existing: state.existingKeys)
            let mark = applier.keys?.mark
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
            // Committed: the batch's keys join the run's. A run that cannot be
            // written (a full disk) stays in memory for the merge; should the
            // scratch file not even open, the keys stay here and the next batch
            // tries again.
            if var committed = applier.keys {
                applier.keys = nil  // the only copy: spilling then reuses its buffers
                committed.lastRow = result.checkpointRow
                try? committed.spillIfFull()
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
                    try pending.write(db, existing: state.existingKeys)
                    try Self.markSynced(db, importID: importID, through: pending.lastRow)
                } else {
                    try Self.syncKeysFromContacts(db, importID: importID, after: synced, existing: state.existingKeys)
                }
            }
        }
    }

    private static func markSynced(_ db: Connection, importID: Int64, through row: Int64) throws {
        try db.cached("UPDATE imports SET keys_synced_row = max(keys_synced_row, ?) WHERE id = ?").execute([.integer(row), .integer(importID)])
    }

    private static func syncKeysFromContacts(_ db: Connection, importID: Int64, after synced: Int64, existing: ExistingKeys?) throws {
        // Created rows are packed in blocks, or (imports run before blocks
        // existed) in import_rows.
        let listed = try db.cached("""
            SELECT row_number, contact_id FROM import_rows
            WHERE import_id = ? AND row_number > ? AND outcome = 1 AND contact_id IS NOT NULL ORDER BY row_number LIMIT ?
            """)
        let contact = try db.cached("SELECT email, external_id FROM contacts WHERE id = ?")
        let chunk = 200_000
        var after = synced
        while true {
            let fromRows = try listed.query([.integer(importID), .integer(after), .integer(Int64(chunk))]) { (row: $0.int64(0), id: $0.int64(1)) }
            let fromBlocks = try CreatedRows.read(db, importID: importID, afterRow: after, limit: chunk).compactMap { entry in
                entry.contactID.map { (row: entry.row, id: $0) }
            }
            let created = mergedByRow(fromRows, fromBlocks, limit: chunk) { $0.row }
            guard let last = created.last?.row else { break }
            var keys = KeyAccumulator(from: after)
            for (_, id) in created {
                try contact.forEachRow([.integer(id)]) { r in
                    if let email = r.text(0) { keys.add(kind: ContactKeys.email, key: FieldRules.emailKey(email), contactID: id) }
                    if let externalID = r.text(1) { keys.add(kind: ContactKeys.externalID, key: externalID, contactID: id) }
                }
            }
            try keys.write(db, existing: existing)
            after = last
        }
        try markSynced(db, importID: importID, through: after)
    }

    /// Starts collecting the run's keys (in memory, then in scratch files
    /// beside the database).
    private func startCollectingKeys(importID: Int64) async throws {
        let state = writerState
        let scratchDirectory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let memory = runKeyMemoryBytes
        let waitsForFilter = try await writer.run { db -> Bool in
            // Rows left: about as many keys to add.
            let (synced, rows) = try db.cached("SELECT keys_synced_row, total_rows - checkpoint_row FROM imports WHERE id = ?")
                .queryOne([.integer(importID)]) { ($0.int64(0), $0.int64(1)) } ?? (0, 0)
            self.buildExistingKeysIfNeeded(adding: Int(rows))
            state.keys[importID] = KeyAccumulator(from: synced, scratchDirectory: scratchDirectory, memoryBytes: memory)
            guard state.existingKeys.isBuilding else { return false }
            // A look-up the filter does not rule out reads a leaf page the
            // cache rarely holds (about 2.5 us); the scan reads about eight
            // keys in that time. A run whose rows would probe longer than
            // the whole scan takes waits for the filter.
            return rows * Self.scannedKeysPerProbe >= (try KeyTiers.stamp(db))
        }
        if waitsForFilter {
            let writer = self.writer
            await withCheckedContinuation { (built: CheckedContinuation<Void, Never>) in
                Task {
                    do {
                        try await writer.run { _ in state.existingKeys.onBuilt { built.resume() } }
                    } catch {
                        built.resume()
                    }
                }
            }
        }
    }

    /// Keys the filter's scan reads in the time one look-up in a large
    /// `contact_keys` takes (measured at 5M keys: 0.28 us a key, 2.5 us a probe).
    static let scannedKeysPerProbe: Int64 = 8

    public func beginRun(importID: Int64) async throws {
        try await syncKeys(importID: importID)
        try await startCollectingKeys(importID: importID)
    }

    public func endRun(importID: Int64) async throws {
        try await syncKeys(importID: importID)
        let floor = keyTierMergeFloor
        let state = writerState
        try await writer.run { db in
            _ = try db.transaction { try KeyTiers.mergeIfDue(db, floor: floor) }
            // After a big run the filter is saved, so a start after a crash
            // need not scan the keys again (a clean stop saves it in any
            // case). Failing to save costs only that scan: the run is done.
            let saved = state.existingKeys.savedStamp ?? 0
            if try KeyTiers.stamp(db) - saved >= max(Self.keysWorthSavingTheFilter, saved / 4) {
                try? state.existingKeys.save(db)
            }
        }
    }

    /// Keys added since the filter was saved that make it worth saving at a
    /// run's end, and a quarter of the keys it held then: its bits (at most
    /// 16 MiB, a bit more than a byte a key) are then a small part of what
    /// the runs since wrote. Saving 9 MiB after each 1M-key run into 5M
    /// keys was 0.2 s of a 4 s run.
    static let keysWorthSavingTheFilter: Int64 = 1 << 16

    /// Saves the filter of existing keys (see `ExistingKeys.save`).
    public func saveForNextStart() async {
        let state = writerState
        try? await writer.run { db in try state.existingKeys.save(db) }
    }

    /// Adds the keys of every import whose created contacts still lack them,
    /// and starts building the filter of existing keys.
    public func recover() async throws {
        let pending = try await reader.run { db in
            try db.cached("SELECT id FROM imports WHERE keys_synced_row < checkpoint_row AND validate_only = 0 ORDER BY id")
                .query([]) { $0.int64(0) }
        }
        for id in pending {
            try await syncKeys(importID: id)
        }
        // The filter of existing keys is warm before the first run begins:
        // the one saved with the database if no key was added since, or a scan.
        let state = writerState
        try await writer.run { db in
            if try !state.existingKeys.load(db) { self.buildExistingKeysIfNeeded() }
        }
    }
}
