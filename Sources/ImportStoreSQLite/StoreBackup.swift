import SQLiteDB

/// Backups of a data directory's database, taken while a server uses it.
public enum StoreBackup {
    /// Copies the database at `source` into a new file at `target`, as of one
    /// moment (SQLite's online backup: the server goes on importing meanwhile),
    /// and returns the spool files its imports refer to (uploads are re-read
    /// from them for row listings and unfinished imports).
    public static func copyDatabase(from source: String, to target: String) throws -> [String] {
        let live = try Connection(path: source, readOnly: true)
        live.setBusyTimeout(milliseconds: 10_000)
        try live.backup(to: target)
        let copy = try Connection(path: target, readOnly: true)
        return try copy.prepare("SELECT DISTINCT spool_name FROM imports ORDER BY spool_name").query { $0.text(0) ?? "" }
            .filter { !$0.isEmpty }
    }

    /// `PRAGMA integrity_check` of the database at `path`, and that this
    /// program knows its schema (a newer one is refused).
    public static func verify(_ path: String) throws -> String {
        let connection = try Connection(path: path, readOnly: true)
        let applied = try Migrator.appliedVersions(connection)
        if let newest = applied.max(), let known = Schema.migrations.last?.version, newest > known {
            throw NewerSchemaError(path: path, databaseVersion: newest, knownVersion: known)
        }
        return try connection.integrityCheck()
    }
}
