import Foundation
import PostgresDB
import PostgresTestSupport
import Synchronization
import Testing

/// The libpq wrapper against a real PostgreSQL 15 (`PostgresCluster`).
@Suite struct PGConnectionTests {
    /// A connection to a database of its own.
    func connect(_ test: String = #function) async throws -> (PostgresCluster, PGConnection) {
        let cluster = try await PostgresCluster.start()
        let name = "t_" + test.prefix(while: { $0 != "(" }).lowercased() + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await cluster.makeDatabase(name)
        return (cluster, try PGConnection(cluster.conninfo(database: name)))
    }

    @Test func parametersAndTypesRoundTrip() async throws {
        let (_, db) = try await connect()
        #expect(db.serverVersion >= 150000)
        try db.execute("CREATE TABLE t (s text, i bigint, b boolean, d double precision, x bytea, n text)")
        let bytes: [UInt8] = [0, 1, 0x5C, 0xFF, 0x0A, 0x09]
        let inserted = try db.execute("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)",
                                      [.text("O'Hara; DROP TABLE t; -- é\t\n"), .int(Int64.min), .bool(true), .double(0.25), .bytes(bytes), .null])
        #expect(inserted.affectedRows == 1)
        let rows = try db.execute("SELECT s, i, b, d, x, n FROM t")
        #expect(rows.count == 1 && rows.columns == ["s", "i", "b", "d", "x", "n"])
        #expect(rows.text(0, 0) == "O'Hara; DROP TABLE t; -- é\t\n")
        #expect(rows.int(0, 1) == Int64.min)
        #expect(rows.bool(0, 2) == true)
        #expect(rows.double(0, 3) == 0.25)
        #expect(rows.bytes(0, 4) == bytes)
        #expect(rows.isNull(0, 5) && rows.text(0, 5) == nil)
    }

    @Test func errorsCarryTheirSQLState() async throws {
        let (_, db) = try await connect()
        try db.execute("CREATE TABLE u (email text PRIMARY KEY)")
        try db.execute("INSERT INTO u VALUES ($1)", [.text("a@example.com")])
        let duplicate = #expect(throws: PGError.self) { try db.execute("INSERT INTO u VALUES ($1)", [.text("a@example.com")]) }
        #expect(duplicate?.isUniqueViolation == true)
        #expect(duplicate?.message.contains("duplicate key") == true)
        let syntax = #expect(throws: PGError.self) { try db.execute("SELEC 1") }
        #expect(syntax?.sqlState == "42601")
        // The connection is still usable.
        #expect(try db.execute("SELECT 1").int(0, 0) == 1)
    }

    @Test func transactionsRollBackWhenTheBodyThrows() async throws {
        let (_, db) = try await connect()
        try db.execute("CREATE TABLE v (n int)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction {
                try db.execute("INSERT INTO v VALUES (1)")
                throw Stop()
            }
        }
        try db.transaction { try db.execute("INSERT INTO v VALUES (2)") }
        #expect(try db.execute("SELECT array_agg(n) FROM v").text(0, 0) == "{2}")
    }

    @Test func preparedStatements() async throws {
        let (_, db) = try await connect()
        try db.execute("CREATE TABLE p (k int, v text)")
        try db.prepare("put", "INSERT INTO p VALUES ($1, $2)")
        for k in 1...100 { try db.executePrepared("put", [.int(Int64(k)), .text("v\(k)")]) }
        #expect(try db.execute("SELECT count(*), sum(k) FROM p").int(0, 1) == 5050)
    }

    @Test func copyFromStdinEscapesEverything() async throws {
        let (_, db) = try await connect()
        try db.execute("CREATE TABLE c (i bigint, s text, x bytea)")
        let awkward = ["tab\there", "line\nbreak", "back\\slash", "\\N", "", "crlf\r\n", "ünïcødé"]
        let rows: [[PGValue]] = (0..<20_000).map { i in
            [.int(Int64(i)), i % 11 == 0 ? .null : .text(awkward[i % awkward.count]), .bytes([UInt8(i & 0xFF), 0x5C, 0x09])]
        }
        #expect(try db.copyIn("COPY c (i, s, x) FROM STDIN", rows: rows) == 20_000)
        let back = try db.execute("SELECT i, s, x FROM c WHERE i IN (0, 1, 2, 3, 4, 5, 6, 12345) ORDER BY i")
        for row in 0..<back.count {
            let i = Int(back.int(row, 0)!)
            #expect(back.text(row, 1) == (i % 11 == 0 ? nil : awkward[i % awkward.count]))
            #expect(back.bytes(row, 2) == [UInt8(i & 0xFF), 0x5C, 0x09])
        }
        // A bad row fails the whole COPY, and nothing of it stays.
        #expect(throws: PGError.self) { try db.copyIn("COPY c (i, s, x) FROM STDIN", rows: [[.text("not a number"), .null, .null]]) }
        #expect(try db.execute("SELECT count(*) FROM c").int(0, 0) == 20_000)
    }

    @Test func listenAndNotifyAcrossConnections() async throws {
        let (cluster, listener) = try await connect()
        let database = try listener.execute("SELECT current_database()").text(0, 0)!
        let sender = try PGConnection(cluster.conninfo(database: database))
        try listener.listen("import_changed")
        #expect(try listener.notifications(waitingUpTo: .milliseconds(50)).isEmpty)
        try sender.notify("import_changed", payload: "imp_7:3")
        let got = try listener.notifications(waitingUpTo: .seconds(5))
        #expect(got.map(\.payload) == ["imp_7:3"])
        #expect(got.first?.channel == "import_changed" && got.first?.senderPID == sender.backendPID)
    }

    @Test func migrationsApplyOnceWhenReplicasStartTogether() async throws {
        let (cluster, first) = try await connect()
        let database = try first.execute("SELECT current_database()").text(0, 0)!
        let migrations = [
            PGMigration(1, "CREATE TABLE m (id bigserial PRIMARY KEY, note text)"),
            PGMigration(2, "ALTER TABLE m ADD COLUMN extra int"),
            PGMigration(3, "INSERT INTO m (note) VALUES ('applied once')"),
        ]
        // Four "replicas" at once: each migrates on its own connection.
        let applied = Mutex<[[Int]]>([])
        let failures = Mutex<[String]>([])
        let threads = (0..<4).map { _ in
            Thread {
                do {
                    let db = try PGConnection(cluster.conninfo(database: database))
                    let done = try PGMigrator.migrate(db, migrations)
                    applied.withLock { $0.append(done) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        for thread in threads { thread.start() }
        let deadline = Date().addingTimeInterval(60)
        while applied.withLock({ $0.count }) + failures.withLock({ $0.count }) < 4, Date() < deadline { usleep(10_000) }
        #expect(failures.withLock { $0 } == [])
        #expect(applied.withLock { $0.sorted { $0.count > $1.count } } == [[1, 2, 3], [], [], []])
        #expect(try first.execute("SELECT count(*) FROM m").int(0, 0) == 1)
        // A database migrated further than this release knows is refused.
        #expect(throws: PGError.self) { try PGMigrator.migrate(first, Array(migrations.prefix(2))) }
    }

    @Test func aServerThatIsNotThereIsAClearError() async throws {
        let error = #expect(throws: PGError.self) { try PGConnection("host=/nonexistent port=1 user=postgres connect_timeout=2") }
        #expect(error?.message.hasPrefix("cannot connect to PostgreSQL") == true)
    }
}
