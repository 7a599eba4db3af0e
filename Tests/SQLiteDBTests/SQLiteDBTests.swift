import Foundation
import SQLiteDB
import Testing

@Suite struct SQLiteDBTests {
    private func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString).db").path
    }

    @Test func statementsBindStepAndReadColumns() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB, score REAL)")
        let insert = try db.prepare("INSERT INTO t (name, data, score) VALUES (?, ?, ?)")
        try insert.execute([.text("ünïcode"), .blob([0, 1, 2]), .real(1.5)])
        try insert.execute([.null, .blob([]), .integer(2)])
        #expect(db.lastInsertRowID == 2)
        let rows = try db.prepare("SELECT id, name, data, score FROM t ORDER BY id").query { row in
            (row.int64(0), row.text(1), row.blob(2), row.double(3))
        }
        #expect(rows.count == 2)
        #expect(rows[0].1 == "ünïcode" && rows[0].2 == [0, 1, 2] && rows[0].3 == 1.5)
        #expect(rows[1].1 == nil && rows[1].3 == 2)
    }

    @Test func bindTextFromByteRanges() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (a TEXT, b TEXT)")
        let buffer = Array("hello,wörld".utf8)
        let insert = try db.prepare("INSERT INTO t VALUES (?, ?)")
        try insert.bindText(1, buffer, 0..<5)
        try insert.bindText(2, buffer, 6..<buffer.count)
        try insert.step()
        insert.reset()
        try insert.bindText(1, buffer, 3..<3)  // empty -> NULL
        try insert.step()
        let rows = try db.prepare("SELECT a, b FROM t").query { ($0.text(0), $0.text(1)) }
        #expect(rows[0].0 == "hello" && rows[0].1 == "wörld")
        #expect(rows[1].0 == nil)
    }

    @Test func errorsCarryCodeMessageAndSQL() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (email TEXT UNIQUE)")
        try db.prepare("INSERT INTO t VALUES ('a')").execute()
        do {
            try db.prepare("INSERT INTO t VALUES ('a')").execute()
            Issue.record("expected a unique violation")
        } catch let error as SQLiteError {
            #expect(error.isUniqueViolation)
            #expect(error.isConstraintViolation)
            #expect(error.sql == "INSERT INTO t VALUES ('a')")
            #expect(error.message.contains("UNIQUE"))
        }
        #expect(throws: SQLiteError.self) { try db.prepare("SELEC nonsense") }
    }

    @Test func transactionsCommitOrRollBack() throws {
        let db = try Connection(path: ":memory:")
        try db.execute("CREATE TABLE t (v INTEGER)")
        try db.transaction { try db.prepare("INSERT INTO t VALUES (1)").execute() }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.prepare("INSERT INTO t VALUES (2)").execute()
                throw Boom()
            }
        }
        #expect(try db.scalar("SELECT count(*) FROM t") == 1)
        #expect(!db.isInTransaction)
    }

    @Test func migrationsRunOnceInOrder() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let migrations = [
            Migration(version: 1, name: "create", sql: "CREATE TABLE t (v INTEGER)"),
            Migration(version: 2, name: "seed", sql: "INSERT INTO t VALUES (42)"),
        ]
        do {
            let db = try Connection(path: path)
            try Migrator.migrate(db, migrations)
            try Migrator.migrate(db, migrations)  // no-op the second time
            #expect(try db.scalar("SELECT count(*) FROM t") == 1)
        }
        let db = try Connection(path: path)
        try Migrator.migrate(db, migrations + [Migration(version: 3, name: "more", sql: "INSERT INTO t VALUES (7)")])
        #expect(try Migrator.appliedVersions(db) == [1, 2, 3])
        #expect(try db.scalar("SELECT sum(v) FROM t") == 49)
    }

    @Test func walReadersDoNotBlockTheWriter() async throws {
        let path = temporaryPath()
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let writer = try DatabaseQueue(path: path, label: "writer") { db in
            try db.pragma("journal_mode=WAL")
            try db.execute("CREATE TABLE t (v INTEGER)")
        }
        let reader = try DatabaseQueue(path: path, label: "reader", readOnly: true)
        try await writer.run { db in try db.prepare("INSERT INTO t VALUES (1)").execute() }
        // A read transaction stays open while the writer commits more.
        let before = try await reader.run { db -> Int64 in
            try db.execute("BEGIN")
            return try db.scalar("SELECT count(*) FROM t") ?? -1
        }
        try await writer.run { db in try db.prepare("INSERT INTO t VALUES (2)").execute() }
        let during = try await reader.run { db in try db.scalar("SELECT count(*) FROM t") ?? -1 }
        let after = try await reader.run { db -> Int64 in
            try db.execute("COMMIT")
            return try db.scalar("SELECT count(*) FROM t") ?? -1
        }
        #expect(before == 1 && during == 1 && after == 2)
    }
}
