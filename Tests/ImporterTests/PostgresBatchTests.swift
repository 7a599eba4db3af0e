import Foundation
import ImportEngine
import ImportStorePostgres
import PostgresDB
import PostgresTestSupport
import Testing

/// How the PostgreSQL store decides and writes batches: written as new while
/// the import meets no stored key, the look-up once it does, and created rows
/// packed in blocks (read together with those stored one a row before).
@Suite struct PostgresBatchTests {
    /// `rows` contacts `prefix0@example.org`..., with `first` as first name.
    static func csv(_ rows: Range<Int>, prefix: String = "person", first: String = "First", replacing: [Int: String] = [:]) -> String {
        var text = "first_name,last_name,email\n"
        for i in rows {
            text += replacing[i] ?? "\(first)\(i),Last\(i),\(prefix)\(i)@example.org\n"
        }
        return text
    }

    @Test func aFileOfNewContactsIsWrittenWithoutLookingUpItsKeys() async throws {
        let h = try await ImporterHarness(.postgres, batchRows: 100)
        defer { h.remove() }
        let job = try await h.upload(Self.csv(0..<350), chunkSize: 1 << 16)
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.state == .completed && done.created == 350 && done.updated == 0)
        #expect(h.postgres!.batchPaths == BatchPaths(writtenAsNew: 4, guessedWrong: 0, lookedUp: 0))
        #expect(try await h.contactCount() == 350)
        // Every row's result, from the blocks.
        let rows = try await CreatedRowsTests.list(h, job.publicID, outcome: nil)
        #expect(rows.map(\.rowNumber) == Array(1...350) && rows.allSatisfy { $0.outcome == .created && $0.contactID != nil })
        await h.close()
    }

    /// A stored key in a batch written as new fails its COPY: the batch goes
    /// back to its savepoint and is decided with the look-up, and so is the
    /// next one; the one after that is written as new again.
    @Test func aStoredKeyInABatchWrittenAsNewSendsItToTheLookUp() async throws {
        let h = try await ImporterHarness(.postgres, batchRows: 100)
        defer { h.remove() }
        let first = try await h.upload(Self.csv(0..<10, prefix: "old"), chunkSize: 1 << 16)
        try await h.tick()
        #expect(try await h.job(first.id).created == 10)
        #expect(h.postgres!.batchPaths == BatchPaths(writtenAsNew: 1))

        // Row 150 (the 50th of the second batch) is old3, with a new first name.
        let second = try await h.upload(Self.csv(0..<400, replacing: [149: "Renamed,Old,OLD3@example.org\n"]), chunkSize: 1 << 16)
        try await h.tick()
        let done = try await h.job(second.id)
        #expect(done.state == .completed && done.created == 399 && done.updated == 1 && done.failed == 0)
        // Batches 1 and 4 written as new, 2 guessed wrong then looked up, 3 looked up (its predecessor met a key).
        #expect(h.postgres!.batchPaths == BatchPaths(writtenAsNew: 3, guessedWrong: 1, lookedUp: 2))
        #expect(try await h.contact(email: "old3@example.org")?.fields[.firstName] == "Renamed")
        #expect(try await h.contactCount() == 409)

        let rows = try await CreatedRowsTests.list(h, second.publicID, outcome: nil)
        #expect(rows.map(\.rowNumber) == Array(1...400))
        #expect(rows.filter { $0.outcome == .updated }.map(\.rowNumber) == [150])
        #expect(try await CreatedRowsTests.list(h, second.publicID, outcome: .created).count == 399)

        // Reverted: the 399 new contacts go, the old one gets its name back.
        let reverted = try await h.importer.revert(second.publicID)
        #expect(reverted.revertedRows == 400 && reverted.revertKeptRows == 0)
        #expect(try await h.contactCount() == 10)
        #expect(try await h.contact(email: "old3@example.org")?.fields[.firstName] == "First3")
        await h.close()
    }

    /// An import whose first created rows were stored one a row (before
    /// migration 2, as after an upgrade in the middle of a run) is listed and
    /// reverted whole.
    @Test func createdRowsStoredOneARowStillCount() async throws {
        let h = try await ImporterHarness(.postgres)
        defer { h.remove() }
        let job = try await h.upload(CreatedRowsTests.csv(20_000), chunkSize: 1 << 16)
        try await h.tick()
        let listed = try await CreatedRowsTests.list(h, job.publicID, outcome: nil)
        #expect(listed.count == 20_000)

        let conninfo = h.postgres!.conninfo
        let moved = try await PostgresCluster.offPool { () -> Int in
            let db = try PGConnection(conninfo)
            return try db.transaction {
                let block = try db.execute("SELECT last_row, data FROM import_created_rows WHERE import_id = $1 ORDER BY last_row LIMIT 1",
                                           [.int(job.id)])
                let entries = try #require(block.bytes(0, 1)?.withUnsafeBytes { CreatedRowBlock.decode($0) })
                for e in entries {
                    try db.execute("INSERT INTO import_rows (import_id, row_number, outcome, contact_id, byte_offset) VALUES ($1, $2, 1, $3, $4)",
                                   [.int(job.id), .int(e.row), .int(e.contactID!), .int(e.offset)])
                }
                try db.execute("DELETE FROM import_created_rows WHERE import_id = $1 AND last_row = $2", [.int(job.id), .int(block.int(0, 0)!)])
                return entries.count
            }
        }
        #expect(moved == CreatedRowBlock.maxRows)
        #expect(try await CreatedRowsTests.list(h, job.publicID, outcome: nil) == listed)
        #expect(try await CreatedRowsTests.list(h, job.publicID, outcome: .created) == listed.filter { $0.outcome == .created })

        let reverted = try await h.importer.revert(job.publicID)
        #expect(reverted.revertedRows == 20_000 - 2_857 && reverted.revertKeptRows == 0)
        #expect(try await h.contactCount() == 0)
        await h.close()
    }

    /// A batch's contact ids come as a run's ends when nothing interleaved,
    /// as a list otherwise (here: a sequence that steps by 3).
    @Test func newContactIDsAreDistinctWhetherOrNotTheyRunOn() async throws {
        let h = try await ImporterHarness(.postgres)
        defer { h.remove() }
        let conninfo = h.postgres!.conninfo
        let (run, stepped) = try await PostgresCluster.offPool { () -> ([Int64], [Int64]) in
            let db = try PGConnection(conninfo)
            let run = try PostgresImportStore.newContactIDs(db, count: 500)
            try db.execute("ALTER SEQUENCE contacts_id_seq INCREMENT BY 3")
            return (run, try PostgresImportStore.newContactIDs(db, count: 500))
        }
        #expect(run == Array(1...500))
        #expect(stepped == Array(stride(from: Int64(503), through: 503 + 3 * 499, by: 3)), "in order, as the rows get them")
        await h.close()
    }
}
