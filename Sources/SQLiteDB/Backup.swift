import CSQLite

extension Connection {
    /// Copies this database, as of one moment, into a new database file at
    /// `path` (SQLite's online backup API, all pages in one step: a consistent
    /// copy taken inside one read transaction, so writers in other connections
    /// and processes go on meanwhile, in WAL mode).
    public func backup(to path: String) throws {
        let target = try Connection(path: path)
        guard let backup = sqlite3_backup_init(target.handle, "main", handle, "main") else {
            throw target.error(sqlite3_errcode(target.handle))
        }
        var result: Int32
        repeat {
            result = sqlite3_backup_step(backup, -1)
            if result == SQLITE_BUSY || result == SQLITE_LOCKED { sqlite3_sleep(20) }
        } while result == SQLITE_OK || result == SQLITE_BUSY || result == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard result == SQLITE_DONE, finish == SQLITE_OK else {
            throw target.error(result == SQLITE_DONE ? finish : result)
        }
        // The copy is a plain file, not left in WAL mode with a -wal beside it.
        try target.execute("PRAGMA journal_mode=DELETE")
    }

    /// `PRAGMA integrity_check`: "ok", or what is wrong.
    public func integrityCheck() throws -> String {
        try prepare("PRAGMA integrity_check").query { $0.text(0) ?? "" }.joined(separator: "; ")
    }
}
