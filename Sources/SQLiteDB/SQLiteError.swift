import CSQLite

/// A failed SQLite call: the result code (extended), SQLite's message, and the
/// SQL it ran. Never shown to API clients (the service maps it to INTERNAL).
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE` (2067).
    public let code: Int32
    public let message: String
    public let sql: String?
    /// The operating system's errno behind an I/O error, 0 when none.
    public let systemErrno: Int32

    public init(code: Int32, message: String, sql: String? = nil, systemErrno: Int32 = 0) {
        self.code = code
        self.message = message
        self.sql = sql
        self.systemErrno = systemErrno
    }

    /// The primary result code (`SQLITE_CONSTRAINT` for every constraint failure).
    public var primaryCode: Int32 { code & 0xFF }

    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }
    // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555) are macros Swift cannot import.
    public var isUniqueViolation: Bool { code == 2067 || code == 1555 }
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
    /// The disk is full: SQLITE_FULL, or an I/O error whose cause was ENOSPC (28) or EDQUOT (122).
    public var isDiskFull: Bool {
        primaryCode == SQLITE_FULL || (primaryCode == SQLITE_IOERR && (systemErrno == 28 || systemErrno == 122))
    }

    public var description: String {
        // One line: the SQL's white space folded, at most 200 characters.
        "SQLite error \(code): \(message)" + (sql.map { " in \"\(String($0.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(200)))\"" } ?? "")
    }
}
