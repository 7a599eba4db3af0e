/// One numbered schema change.
public struct PGMigration: Sendable {
    public let version: Int
    public let sql: String

    public init(_ version: Int, _ sql: String) {
        self.version = version
        self.sql = sql
    }
}

/// Numbered migrations, applied in order under a session advisory lock, so
/// replicas starting together migrate once: the first takes the lock and
/// applies; the others wait, then find nothing left to do. Each migration
/// commits with its row in `schema_migrations`.
public enum PGMigrator {
    /// The advisory lock key (any 64-bit number the product reserves).
    public static let defaultLockKey: Int64 = 0x696d_706f_7274_6400  // "importd\0"

    /// Applies what is missing; returns the versions applied by this call.
    /// A database whose newest applied version is above every known one was
    /// migrated by a newer release: refused.
    @discardableResult
    public static func migrate(_ connection: PGConnection, _ migrations: [PGMigration], lockKey: Int64 = defaultLockKey) throws -> [Int] {
        precondition(migrations.map(\.version) == migrations.map(\.version).sorted() && Set(migrations.map(\.version)).count == migrations.count,
                     "migrations must be numbered in increasing order")
        try connection.execute("SELECT pg_advisory_lock($1)", [.int(lockKey)])
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [.int(lockKey)]) }
        // Under the lock, so looking first is safe; `CREATE TABLE IF NOT EXISTS`
        // would print a NOTICE on every start but the first.
        if try connection.execute("SELECT to_regclass('schema_migrations') IS NULL").bool(0, 0) ?? true {
            try connection.execute("""
                CREATE TABLE schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """)
        }
        let result = try connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        let current = Int(result.int(0, 0) ?? 0)
        if let newest = migrations.last?.version, current > newest {
            throw PGError(sqlState: nil, message: "the database is at schema version \(current), newer than this release knows (\(newest)); run a newer importd")
        }
        var applied: [Int] = []
        for migration in migrations where migration.version > current {
            try connection.transaction {
                try connection.executeScript(migration.sql)
                try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [.int(Int64(migration.version))])
            }
            applied.append(migration.version)
        }
        return applied
    }
}
