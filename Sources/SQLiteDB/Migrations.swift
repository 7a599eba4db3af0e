/// One schema change, applied once, in order.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies the migrations a database has not seen yet, each in its own
/// transaction, recording them in `schema_migrations`.
public enum Migrator {
    public static func migrate(_ connection: Connection, _ migrations: [Migration]) throws {
        precondition(migrations.map(\.version) == migrations.map(\.version).sorted(), "migrations out of order")
        try connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        let applied = Set(try connection.prepare("SELECT version FROM schema_migrations").query { $0.int(0) })
        for migration in migrations where !applied.contains(migration.version) {
            try connection.transaction {
                try connection.execute(migration.sql)
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
