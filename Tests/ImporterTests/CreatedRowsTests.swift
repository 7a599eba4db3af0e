import ImportEngine
import ImportStoreSQLite
import SQLiteDB
import Testing

/// Created rows' results, packed in blocks on SQLite (`CreatedRowBlock`),
/// read as if each were a row of `import_rows`.
@Suite struct CreatedRowsTests {
    @Test func aBlockDecodesToWhatWasAddedKeptMarksAndDryRunsIncluded() throws {
        var block = CreatedRowBlock()
        let entries = [
            CreatedRowBlock.Entry(row: 1, contactID: 5, offset: 40, kept: false),
            CreatedRowBlock.Entry(row: 2, contactID: 6, offset: 97, kept: true),
            CreatedRowBlock.Entry(row: 900_000, contactID: 1 << 40, offset: 1 << 33, kept: false),
            CreatedRowBlock.Entry(row: 900_001, contactID: (1 << 40) + 1, offset: (1 << 33) + 200, kept: true),
        ]
        for e in entries { block.add(row: e.row, contactID: e.contactID, offset: e.offset, kept: e.kept) }
        #expect(block.count == 4)
        #expect(block.data.withUnsafeBytes { CreatedRowBlock.decode($0) } == entries)
        // A dry run's rows have no contact, and no contact delta is stored.
        var dry = CreatedRowBlock()
        dry.add(row: 3, contactID: nil, offset: 10)
        dry.add(row: 7, contactID: nil, offset: 300)
        #expect(dry.data.withUnsafeBytes { CreatedRowBlock.decode($0) } == [
            .init(row: 3, contactID: nil, offset: 10, kept: false), .init(row: 7, contactID: nil, offset: 300, kept: false),
        ])
        #expect(dry.data.count == 1 + 2 * 2 + 1, "flags, then a byte of row and a byte or two of offset a row")
        // A varint cut short is refused, not read as a row.
        #expect(Array(block.data.dropLast()).withUnsafeBytes { CreatedRowBlock.decode($0) } == nil)
    }

    /// 20,000 rows, every seventh failed: the created rows fill blocks of at
    /// most `CreatedRowBlock.maxRows` (two batches of 10,000 rows, two blocks
    /// each), and every listing pages them in row order among the others.
    @Test(arguments: Backend.allCases) func createdRowsPageInRowOrderAmongTheOthers(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(Self.csv(20_000), chunkSize: 1 << 16)
        try await h.tick()
        let done = try await h.job(job.id)
        let failedRows = Set(stride(from: 7, through: 20_000, by: 7).map(Int64.init))
        #expect(done.state == .completed && done.failed == Int64(failedRows.count) && done.created == 20_000 - Int64(failedRows.count))

        let all = try await Self.list(h, job.publicID, outcome: nil)
        #expect(all.map(\.rowNumber) == Array(1...20_000))
        #expect(all.filter { $0.outcome == .failed }.map(\.rowNumber) == failedRows.sorted())
        #expect(all.allSatisfy { ($0.outcome == .failed) == ($0.contactID == nil) })
        let created = try await Self.list(h, job.publicID, outcome: .created)
        #expect(created.map(\.rowNumber) == all.filter { $0.outcome == .created }.map(\.rowNumber))
        let ids = created.compactMap(\.contactID)
        #expect(ids.count == created.count && zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        #expect(try await Self.list(h, job.publicID, outcome: .failed).count == failedRows.count)
        // Values are read back from the file by each row's offset.
        let page = try await h.importer.rows(job.publicID, outcome: .created, pageSize: 3, pageToken: "").rows
        #expect(page.map(\.values) == [["First0", "Last0", "person0@example.org"], ["First1", "Last1", "person1@example.org"], ["First2", "Last2", "person2@example.org"]])
        if backend == .sqlite {
            let db = try Connection(path: h.directory + "/importd.sqlite")
            #expect(try db.scalar("SELECT count(*) FROM import_created_rows WHERE import_id = ?", [.integer(job.id)]) == 4)
            #expect(try db.scalar("SELECT count(*) FROM import_rows WHERE import_id = ?", [.integer(job.id)]) == Int64(failedRows.count))
        }
        await h.close()
    }

    /// An import that ran partly before blocks existed (its first rows'
    /// results in `import_rows`, the rest in blocks, as after an upgrade in the
    /// middle of a run) is listed, has its keys synced after a crash, and is
    /// reverted, whole.
    @Test func createdRowsWrittenBeforeBlocksExistedStillCount() async throws {
        let first = try await ImporterHarness(.sqlite)
        defer { first.remove() }
        let job = try await first.upload(Self.csv(20_000), chunkSize: 1 << 16)
        try await first.tick()
        let listed = try await Self.list(first, job.publicID, outcome: nil)
        await first.close()

        // Rewrite the first block's rows the way they were stored before, and
        // forget every key (a crash before the run's keys were added).
        do {
        let db = try Connection(path: first.directory + "/importd.sqlite")
        let (lastRow, entries) = try #require(try db.cached("SELECT last_row, data FROM import_created_rows WHERE import_id = ? ORDER BY last_row LIMIT 1")
            .queryOne([.integer(job.id)]) { r in (r.int64(0), r.withBytes(1) { CreatedRowBlock.decode($0) }) })
        let moved = try #require(entries)
        #expect(moved.count == CreatedRowBlock.maxRows)
        try db.transaction {
            for e in moved {
                try db.cached("INSERT INTO import_rows (import_id, row_number, outcome, contact_id, offset) VALUES (?, ?, 1, ?, ?)")
                    .execute([.integer(job.id), .integer(e.row), .integer(e.contactID!), .integer(e.offset)])
            }
            try db.cached("DELETE FROM import_created_rows WHERE import_id = ? AND last_row = ?").execute([.integer(job.id), .integer(lastRow)])
            try db.execute("DELETE FROM contact_keys")
            try db.execute("DELETE FROM key_filter")
            try db.cached("UPDATE imports SET keys_synced_row = 0 WHERE id = ?").execute([.integer(job.id)])
        }
        }

        let h = try await ImporterHarness(.sqlite, directory: first.directory, clock: first.clock)
        #expect(try await Self.list(h, job.publicID, outcome: nil) == listed)
        // The keys came back from both kinds of rows: the same file again updates every contact.
        let again = try await h.upload(Self.csv(20_000), chunkSize: 1 << 16)
        try await h.tick()
        let second = try await h.job(again.id)
        #expect(second.updated == 20_000 - 2_857 && second.created == 0)
        _ = try await h.importer.revert(again.publicID)
        let reverted = try await h.importer.revert(job.publicID)
        #expect(reverted.revertedRows == 20_000 - 2_857 && reverted.revertKeptRows == 0)
        #expect(try await h.contactCount() == 0)
        await h.close()
    }

    /// 20,000 contacts, every seventh row missing its last name.
    static func csv(_ rows: Int) -> String {
        var text = "first_name,last_name,email\n"
        for i in 0..<rows {
            text += "First\(i),\((i + 1) % 7 == 0 ? "" : "Last\(i)"),person\(i)@example.org\n"
        }
        return text
    }

    static func list(_ h: ImporterHarness, _ id: String, outcome: RowOutcome?) async throws -> [ImportRowRecord] {
        var records: [ImportRowRecord] = []
        var token = ""
        repeat {
            let page = try await h.importer.rows(id, outcome: outcome, pageSize: 1000, pageToken: token)
            records += page.rows.map(\.record)
            token = page.nextPageToken
        } while !token.isEmpty
        return records
    }
}
