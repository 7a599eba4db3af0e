import CSQLite

#if canImport(Glibc)
import Glibc
#endif

/// A prepared statement; it owns its `sqlite3_stmt` and finalizes it in `deinit`.
/// Confined to its connection's executor.
public final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection
    public let sql: String

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    init(connection: Connection, sql: String) throws {
        var handle: OpaquePointer?
        let result = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard result == SQLITE_OK, let handle else {
            throw connection.error(result, sql: sql)
        }
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Ready to run again; bindings cleared.
    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: - Binding (parameters are 1-based)

    private func check(_ result: Int32) throws {
        if result != SQLITE_OK { throw connection.error(result, sql: sql) }
    }

    public func bind(_ index: Int32, _ value: SQLValue) throws {
        switch value {
        case .null: try check(sqlite3_bind_null(handle, index))
        case .integer(let v): try check(sqlite3_bind_int64(handle, index, v))
        case .real(let v): try check(sqlite3_bind_double(handle, index, v))
        case .text(let v): try check(sqlite3_bind_text(handle, index, v, -1, Self.transient))
        case .blob(let v):
            try v.withUnsafeBytes { try check(sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), Self.transient)) }
        }
    }

    public func bind(_ values: [SQLValue]) throws {
        for (i, value) in values.enumerated() {
            try bind(Int32(i + 1), value)
        }
    }

    public func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    public func bind(_ index: Int32, _ value: String?) throws {
        if let value {
            try check(sqlite3_bind_text(handle, index, value, -1, Self.transient))
        } else {
            try check(sqlite3_bind_null(handle, index))
        }
    }

    /// Binds the UTF-8 bytes `range` of `buffer` as text (copied by SQLite); an
    /// empty range binds NULL.
    public func bindText(_ index: Int32, _ buffer: [UInt8], _ range: Range<Int>) throws {
        if range.isEmpty {
            try check(sqlite3_bind_null(handle, index))
            return
        }
        try buffer.withUnsafeBufferPointer { pointer in
            let start = UnsafeRawPointer(pointer.baseAddress! + range.lowerBound).assumingMemoryBound(to: CChar.self)
            try check(sqlite3_bind_text(handle, index, start, Int32(range.count), Self.transient))
        }
    }

    /// Runs `body` with a binder that binds text straight from `buffer`, without
    /// copying (SQLITE_STATIC). The pointers never outlive the call: bindings
    /// are cleared before it returns, so `body` must step the statement itself.
    public func withBuffer<R>(_ buffer: [UInt8], _ body: (BufferBinder) throws -> R) throws -> R {
        try buffer.withUnsafeBufferPointer { pointer in
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            return try body(BufferBinder(statement: self, base: pointer.baseAddress))
        }
    }

    public func bindNull(_ index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    /// Binds values of one buffer to a statement, for the duration of
    /// `Statement.withBuffer`.
    public struct BufferBinder {
        let statement: Statement
        let base: UnsafePointer<UInt8>?
        private static let staticDestructor = unsafeBitCast(OpaquePointer(bitPattern: 0), to: sqlite3_destructor_type.self)

        /// Binds the bytes `range` of the buffer as UTF-8 text; empty binds NULL.
        public func text(_ index: Int32, _ range: Range<Int>) throws {
            guard !range.isEmpty, let base else {
                try statement.bindNull(index)
                return
            }
            let start = UnsafeRawPointer(base + range.lowerBound).assumingMemoryBound(to: CChar.self)
            let result = sqlite3_bind_text(statement.handle, index, start, Int32(range.count), Self.staticDestructor)
            if result != SQLITE_OK { throw statement.connection.error(result, sql: statement.sql) }
        }

        public func int(_ index: Int32, _ value: Int64) throws {
            try statement.bind(index, value)
        }

        public func int(_ index: Int32, _ value: Int64?) throws {
            if let value { try statement.bind(index, value) } else { try statement.bindNull(index) }
        }

        public func null(_ index: Int32) throws {
            try statement.bindNull(index)
        }

        /// Steps once; true when a row is available.
        @discardableResult
        public func step() throws -> Bool {
            try statement.step()
        }
    }

    // MARK: - Running

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    public func step() throws -> Bool {
        let result = sqlite3_step(handle)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = connection.error(result, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Binds, runs to completion, resets.
    public func execute(_ bindings: [SQLValue] = []) throws {
        sqlite3_reset(handle)
        try bind(bindings)
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Binds, runs, and maps every row.
    public func query<T>(_ bindings: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        sqlite3_reset(handle)
        try bind(bindings)
        defer { sqlite3_reset(handle) }
        var rows: [T] = []
        while try step() {
            rows.append(try row(self))
        }
        return rows
    }

    /// Binds, runs, and calls `body` for every row.
    public func forEachRow(_ bindings: [SQLValue] = [], _ body: (Statement) throws -> Void) throws {
        sqlite3_reset(handle)
        try bind(bindings)
        defer { sqlite3_reset(handle) }
        while try step() {
            try body(self)
        }
    }

    /// Binds, runs, and maps the first row, if any.
    public func queryOne<T>(_ bindings: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> T? {
        sqlite3_reset(handle)
        try bind(bindings)
        defer { sqlite3_reset(handle) }
        return try step() ? try row(self) : nil
    }

    // MARK: - Columns (0-based)

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    public func int(_ column: Int32) -> Int {
        Int(sqlite3_column_int64(handle, column))
    }

    public func optionalInt64(_ column: Int32) -> Int64? {
        isNull(column) ? nil : int64(column)
    }

    public func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    public func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Whether the column holds exactly the bytes `buffer[range]` (as text or
    /// blob); NULL equals nothing. No copy and no `String`.
    public func bytesEqual(_ column: Int32, _ buffer: [UInt8], _ range: Range<Int>) -> Bool {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return false }
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count == range.count else { return false }
        guard count > 0, let pointer else { return true }
        return buffer.withUnsafeBytes { memcmp(pointer, $0.baseAddress! + range.lowerBound, count) == 0 }
    }

    /// The column's text or blob bytes, valid only inside `body` (no copy).
    public func withBytes<R>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: count > 0 ? pointer : nil, count: count))
    }

    public func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
