/// One schema change, applied once, in order: SQL, or code for changes SQL
/// alone cannot say (rebuilding a table).
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    let apply: @Sendable (Connection) throws -> Void

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.apply = { try $0.execute(sql) }
    }

    public init(version: Int, name: String, apply: @escaping @Sendable (Connection) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }
}

/// A database written by a newer program: its schema has versions this one
/// does not know, so it is not touched.
public struct NewerSchemaError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let databaseVersion: Int
    public let knownVersion: Int

    public init(path: String, databaseVersion: Int, knownVersion: Int) {
        self.path = path
        self.databaseVersion = databaseVersion
        self.knownVersion = knownVersion
    }

    public var description: String {
        "the database \(path) has schema version \(databaseVersion), newer than this program knows (\(knownVersion)): "
            + "run the newer version, or restore a backup taken before the upgrade"
    }
}

/// Applies the migrations a database has not seen yet, each in its own
/// transaction, recording them in `schema_migrations`. A database that has
/// versions beyond the last migration is refused (`NewerSchemaError`).
public enum Migrator {
    public static func migrate(_ connection: Connection, _ migrations: [Migration]) throws {
        precondition(migrations.map(\.version) == migrations.map(\.version).sorted(), "migrations out of order")
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        let applied = Set(try connection.prepare("SELECT version FROM schema_migrations").query { $0.int(0) })
        let known = migrations.last?.version ?? 0
        if let newest = applied.max(), newest > known {
            throw NewerSchemaError(path: connection.path, databaseVersion: newest, knownVersion: known)
        }
        for migration in migrations where !applied.contains(migration.version) {
            try connection.transaction {
                try migration.apply(connection)
                try connection.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now'))")
                    .execute([.integer(Int64(migration.version)), .text(migration.name)])
            }
        }
    }

    /// The versions applied so far.
    public static func appliedVersions(_ connection: Connection) throws -> [Int] {
        try connection.prepare("SELECT version FROM schema_migrations ORDER BY version").query { $0.int(0) }
    }
}

extension Connection {
    /// Rebuilds `table` so that its `id INTEGER PRIMARY KEY` becomes
    /// `AUTOINCREMENT`: ids of deleted rows are then never handed out again.
    /// Rows, ids and indexes are kept; `floor` (the highest id ever used, when
    /// other tables know of higher ones than the table still holds) seeds the
    /// sequence. Run it inside a migration's transaction.
    public func addAutoincrement(table: String, floor: Int64 = 0) throws {
        let definition = try cached("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").queryOne([.text(table)]) { $0.text(0) }
        guard let sql = definition ?? nil else { throw SQLiteError(code: 1, message: "no table \(table)") }
        let key = "id INTEGER PRIMARY KEY"
        guard let range = sql.firstRange(of: key) else { throw SQLiteError(code: 1, message: "\(table) has no \(key)") }
        if sql[range.upperBound...].hasPrefix(" AUTOINCREMENT") { return }
        let indexes = try prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL")
            .query([.text(table)]) { $0.text(0) ?? "" }
        var rebuilt = sql
        rebuilt.replaceSubrange(range, with: key + " AUTOINCREMENT")
        let head = "CREATE TABLE \(table)"
        guard rebuilt.hasPrefix(head) else { throw SQLiteError(code: 1, message: "unexpected definition of \(table)") }
        rebuilt = "CREATE TABLE \(table)_rebuilt" + rebuilt.dropFirst(head.count)
        try execute(rebuilt)
        try execute("INSERT INTO \(table)_rebuilt SELECT * FROM \(table)")
        try execute("DROP TABLE \(table)")
        try execute("ALTER TABLE \(table)_rebuilt RENAME TO \(table)")
        for index in indexes { try execute(index) }
        try prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?").execute([.integer(floor), .text(table)])
        if changes == 0 {
            try prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)").execute([.text(table), .integer(floor)])
        }
    }
}
