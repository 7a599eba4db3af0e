import CLibPQ

#if canImport(Glibc)
import Glibc
#endif

/// A failure from PostgreSQL or libpq: the server's SQLSTATE when it sent one,
/// its message, and the statement that failed.
public struct PGError: Error, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE (`23505` unique violation), nil for a client-side failure.
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let sql: String?

    public init(sqlState: String?, message: String, detail: String? = nil, sql: String? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.sql = sql
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }

    public var description: String {
        var text = message
        if let sqlState { text = "[\(sqlState)] " + text }
        if let detail { text += " (\(detail))" }
        if let sql { text += " in: \(sql.prefix(200))" }
        return text
    }
}

/// A parameter or a column value.
public enum PGValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case bytes([UInt8])
}

extension PGValue {
    /// A `text[]` parameter (cast it: `$1::text[]`), in PostgreSQL's array
    /// literal syntax: every element quoted, `"` and `\` escaped, nil as NULL.
    public static func textArray(_ items: some Sequence<String?>) -> PGValue {
        var literal = "{"
        var first = true
        for item in items {
            if !first { literal += "," }
            first = false
            guard let item else {
                literal += "NULL"
                continue
            }
            literal += "\""
            for character in item.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return .text(literal + "}")
    }

    /// A `bigint[]` parameter (`$1::bigint[]`); nil as NULL.
    public static func intArray(_ items: some Sequence<Int64?>) -> PGValue {
        .text("{" + items.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}")
    }
}

/// A message from `NOTIFY`.
public struct PGNotification: Sendable, Hashable {
    public let channel: String
    public let payload: String
    public let senderPID: Int32
}

/// One connection to PostgreSQL (libpq). Not thread-safe: one owner at a time
/// (a serial queue, as SQLiteDB's connections). Every call blocks until the
/// server answers; parameters go separately from the SQL text (never spliced).
public final class PGConnection {
    private let handle: OpaquePointer

    /// Connects with a libpq connection URI or key=value string
    /// (`postgresql://user@host:5432/db?sslmode=disable`).
    public init(_ conninfo: String) throws {
        guard let handle = PQconnectdb(conninfo) else {
            throw PGError(sqlState: nil, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.text(PQerrorMessage(handle))
            PQfinish(handle)
            throw PGError(sqlState: nil, message: "cannot connect to PostgreSQL: " + message)
        }
        self.handle = handle
    }

    deinit {
        PQfinish(handle)
    }

    /// The server's version as a number (150018 for 15.18).
    public var serverVersion: Int { Int(PQserverVersion(handle)) }

    /// False once the connection is broken (the server went away); open another.
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The backend's process id (as `NOTIFY` reports senders).
    public var backendPID: Int32 { PQbackendPID(handle) }

    static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        var text = String(cString: pointer)
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }

    // MARK: - Statements

    /// Runs one statement with `$1, $2, ...` parameters; the rows it returns.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PGValue] = []) throws -> PGResult {
        try withParameters(parameters) { count, values, lengths, formats in
            try check(PQexecParams(handle, sql, count, nil, values, lengths, formats, 0), sql: sql)
        }
    }

    /// Runs several statements separated by `;`, without parameters (a
    /// migration's script).
    public func executeScript(_ sql: String) throws {
        _ = try check(PQexec(handle, sql), sql: sql)
    }

    /// Prepares `sql` under `name` for `executePrepared`.
    public func prepare(_ name: String, _ sql: String) throws {
        _ = try check(PQprepare(handle, name, sql, 0, nil), sql: sql)
    }

    /// Runs the statement prepared as `name`.
    @discardableResult
    public func executePrepared(_ name: String, _ parameters: [PGValue] = []) throws -> PGResult {
        try withParameters(parameters) { count, values, lengths, formats in
            try check(PQexecPrepared(handle, name, count, values, lengths, formats, 0), sql: "EXECUTE \(name)")
        }
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// Parameters as libpq wants them: text for everything but bytes, which go
    /// binary (no escaping, no hex doubling).
    private func withParameters<R>(
        _ parameters: [PGValue],
        _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> R
    ) throws -> R {
        var storage: [[CChar]?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for parameter in parameters {
            switch parameter {
            case .null:
                storage.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let s):
                storage.append(Array(s.utf8CString))
                lengths.append(0)
                formats.append(0)
            case .int(let i):
                storage.append(Array(String(i).utf8CString))
                lengths.append(0)
                formats.append(0)
            case .bool(let b):
                storage.append(Array((b ? "t" : "f").utf8CString))
                lengths.append(0)
                formats.append(0)
            case .double(let d):
                storage.append(Array((d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : String(d)).utf8CString))
                lengths.append(0)
                formats.append(0)
            case .bytes(let bytes):
                storage.append(bytes.map { CChar(bitPattern: $0) } + [0])
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        return try withPointers(storage, index: 0, collected: []) { pointers in
            try pointers.withUnsafeBufferPointer { values in
                try lengths.withUnsafeBufferPointer { lengthBuffer in
                    try formats.withUnsafeBufferPointer { formatBuffer in
                        try body(Int32(parameters.count), values.baseAddress, lengthBuffer.baseAddress, formatBuffer.baseAddress)
                    }
                }
            }
        }
    }

    private func withPointers<R>(_ storage: [[CChar]?], index: Int, collected: [UnsafePointer<CChar>?],
                                 _ body: ([UnsafePointer<CChar>?]) throws -> R) throws -> R {
        if index == storage.count { return try body(collected) }
        guard let item = storage[index] else { return try withPointers(storage, index: index + 1, collected: collected + [nil], body) }
        return try item.withUnsafeBufferPointer { buffer in
            try withPointers(storage, index: index + 1, collected: collected + [buffer.baseAddress], body)
        }
    }

    /// A result, or the error it carries (the result is freed either way).
    private func check(_ result: OpaquePointer?, sql: String) throws -> PGResult {
        guard let result else {
            throw PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle)), sql: sql)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGResult(result)
        default:
            defer { PQclear(result) }
            let field = { (code: UInt8) -> String? in
                guard let value = PQresultErrorField(result, Int32(code)) else { return nil }
                return String(cString: value)
            }
            throw PGError(sqlState: field(UInt8(ascii: "C")), message: field(UInt8(ascii: "M")) ?? Self.text(PQresultErrorMessage(result)),
                          detail: field(UInt8(ascii: "D")), sql: sql)
        }
    }

    // MARK: - COPY

    /// `COPY table (columns) FROM STDIN` with `rows` in COPY's text format
    /// (tabs, newlines and backslashes escaped, `\N` for NULL), sent in pieces
    /// of 64 KiB. Returns the rows copied.
    @discardableResult
    public func copyIn(_ sql: String, rows: some Sequence<[PGValue]>) throws -> Int {
        try copyIn(sql) { copy in
            for row in rows {
                for value in row { copy.append(value) }
                try copy.endRow()
            }
        }
    }

    /// `COPY ... FROM STDIN` with the rows `build` appends (field by field, then
    /// `endRow`), sent in pieces of 64 KiB as they fill (`PGCopyRows.pieceBytes`). Returns the rows copied.
    @discardableResult
    public func copyIn(_ sql: String, _ build: (inout PGCopyRows) throws -> Void) throws -> Int {
        guard let start = PQexec(handle, sql) else { throw PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle)), sql: sql) }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try check(start, sql: sql)
            throw PGError(sqlState: nil, message: "\(sql) did not start a COPY FROM STDIN", sql: sql)
        }
        PQclear(start)
        var rows = PGCopyRows(connection: self, sql: sql)
        var failure: (any Error)?
        do {
            try build(&rows)
            try rows.flush()
        } catch {
            failure = error
        }
        let ended = PQputCopyEnd(handle, failure == nil ? nil : "the client gave up the COPY")
        // The COPY's own result, then the end of the command.
        var copyError: PGError? = ended == 1 ? nil : PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle)), sql: sql)
        while let result = PQgetResult(handle) {
            do { _ = try check(result, sql: sql) } catch let error as PGError { copyError = copyError ?? error }
        }
        if let failure { throw failure }
        if let copyError { throw copyError }
        return rows.count
    }

    fileprivate func putCopyData(_ buffer: [UInt8], sql: String) throws {
        let sent = buffer.withUnsafeBufferPointer { pointer in
            pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        if sent != 1 { throw PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle)), sql: sql) }
    }

    static func appendEscaped(_ bytes: some Sequence<UInt8>, to buffer: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case 0x5C: buffer += [0x5C, 0x5C]
            case 0x09: buffer += [0x5C, UInt8(ascii: "t")]
            case 0x0A: buffer += [0x5C, UInt8(ascii: "n")]
            case 0x0D: buffer += [0x5C, UInt8(ascii: "r")]
            default: buffer.append(byte)
            }
        }
    }

    /// `bytes[range]` escaped for COPY's text format: copied whole when no
    /// byte needs escaping (almost every value), byte by byte otherwise.
    static func appendEscaped(_ bytes: [UInt8], _ range: Range<Int>, to buffer: inout [UInt8]) {
        let plain = bytes.withUnsafeBufferPointer { all in
            var special: UInt8 = 0
            for i in range {
                let byte = all[i]
                // Without branches, so the loop vectorizes: \ (0x5C), \t, \n, \r.
                special |= (byte == 0x5C ? 1 : 0) | (byte == 0x09 ? 1 : 0) | (byte == 0x0A ? 1 : 0) | (byte == 0x0D ? 1 : 0)
            }
            return special == 0
        }
        if plain {
            buffer.append(contentsOf: bytes[range])
        } else {
            appendEscaped(bytes[range], to: &buffer)
        }
    }

    /// `value` in decimal, without a `String` in between.
    static func appendDecimal(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 20 digits at most
        var count = 0
        withUnsafeMutableBytes(of: &digits) { out in
            repeat {
                out[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            buffer.append(contentsOf: out[(24 - count)...])
        }
    }

    static func appendCopyText(_ value: PGValue, to buffer: inout [UInt8]) {
        func escaped(_ bytes: some Sequence<UInt8>) { appendEscaped(bytes, to: &buffer) }
        switch value {
        case .null: buffer += [0x5C, UInt8(ascii: "N")]
        case .text(let s): escaped(s.utf8)
        case .int(let i): buffer += Array(String(i).utf8)
        case .bool(let b): buffer.append(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .double(let d): buffer += Array((d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : String(d)).utf8)
        case .bytes(let bytes):
            // bytea's hex input, its backslash escaped for COPY.
            buffer += [0x5C, 0x5C, UInt8(ascii: "x")]
            let hex = Array("0123456789abcdef".utf8)
            for byte in bytes { buffer += [hex[Int(byte >> 4)], hex[Int(byte & 15)]] }
        }
    }

    // MARK: - LISTEN / NOTIFY

    /// Subscribes this connection to `channel` (an identifier: letters, digits, `_`).
    public func listen(_ channel: String) throws {
        try execute("LISTEN " + Self.identifier(channel))
    }

    public func notify(_ channel: String, payload: String) throws {
        try execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Notifications received, waiting up to `timeout` for the first.
    public func notifications(waitingUpTo timeout: Duration) throws -> [PGNotification] {
        var received = drainNotifications()
        if !received.isEmpty { return received }
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw PGError(sqlState: nil, message: "the connection has no socket") }
        var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&poller, 1, milliseconds)
        if ready > 0 {
            guard PQconsumeInput(handle) == 1 else { throw PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle))) }
            received = drainNotifications()
        }
        return received
    }

    private func drainNotifications() -> [PGNotification] {
        _ = PQconsumeInput(handle)
        var out: [PGNotification] = []
        while let notice = PQnotifies(handle) {
            out.append(PGNotification(channel: String(cString: notice.pointee.relname), payload: String(cString: notice.pointee.extra),
                                      senderPID: notice.pointee.be_pid))
            PQfreemem(notice)
        }
        return out
    }

    /// `name` quoted as an SQL identifier.
    public static func identifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// Rows being written into a `COPY ... FROM STDIN` (text format): fields in
/// column order, then `endRow`. Bytes go straight from the caller's buffer.
public struct PGCopyRows {
    private let connection: PGConnection
    private let sql: String
    private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    public private(set) var count = 0

    /// Bytes sent at a time: small enough that the server starts on the rows
    /// while the next are built, large enough to be a few system calls a MiB.
    static let pieceBytes = 64 << 10

    fileprivate init(connection: PGConnection, sql: String) {
        self.connection = connection
        self.sql = sql
        buffer.reserveCapacity(Self.pieceBytes + 4096)
    }

    private mutating func separate() {
        if fieldsInRow > 0 { buffer.append(0x09) }
        fieldsInRow += 1
    }

    public mutating func append(_ value: PGValue) {
        separate()
        PGConnection.appendCopyText(value, to: &buffer)
    }

    public mutating func appendNull() {
        separate()
        buffer += [0x5C, UInt8(ascii: "N")]
    }

    public mutating func append(_ value: Int64) {
        separate()
        PGConnection.appendDecimal(value, to: &buffer)
    }

    public mutating func append(_ value: Int64?) {
        if let value { append(value) } else { appendNull() }
    }

    /// Text from `bytes[range]` (UTF-8); an empty range is NULL.
    public mutating func appendText(_ bytes: [UInt8], _ range: Range<Int>) {
        guard !range.isEmpty else { return appendNull() }
        separate()
        PGConnection.appendEscaped(bytes, range, to: &buffer)
    }

    public mutating func appendText(_ text: String?) {
        guard let text else { return appendNull() }
        separate()
        PGConnection.appendEscaped(text.utf8, to: &buffer)
    }

    public mutating func endRow() throws {
        buffer.append(0x0A)
        fieldsInRow = 0
        count += 1
        if buffer.count >= Self.pieceBytes { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try connection.putCopyData(buffer, sql: sql)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// The rows of one statement, read as text (libpq's text format) into Swift values.
public final class PGResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) {
        self.result = result
    }

    deinit {
        PQclear(result)
    }

    public var count: Int { Int(PQntuples(result)) }
    public var columns: [String] { (0..<PQnfields(result)).map { String(cString: PQfname(result, $0)) } }
    /// Rows an INSERT, UPDATE, DELETE or COPY touched.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(result, Int32(row), Int32(column)) == 1 }

    public func text(_ row: Int, _ column: Int) -> String? {
        guard !isNull(row, column), let value = PQgetvalue(result, Int32(row), Int32(column)) else { return nil }
        return String(cString: value)
    }

    public func int(_ row: Int, _ column: Int) -> Int64? { text(row, column).flatMap { Int64($0) } }

    public func bool(_ row: Int, _ column: Int) -> Bool? { text(row, column).map { $0 == "t" } }

    public func double(_ row: Int, _ column: Int) -> Double? { text(row, column).flatMap { Double($0) } }

    /// A bytea column (its hex text form decoded).
    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard let text = text(row, column) else { return nil }
        let hex = Array(text.utf8)
        guard hex.count >= 2, hex[0] == 0x5C, hex[1] == UInt8(ascii: "x") else { return Array(text.utf8) }
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        var out: [UInt8] = []
        out.reserveCapacity((hex.count - 2) / 2)
        var i = 2
        while i + 1 < hex.count {
            out.append(nibble(hex[i]) << 4 | nibble(hex[i + 1]))
            i += 2
        }
        return out
    }
}
