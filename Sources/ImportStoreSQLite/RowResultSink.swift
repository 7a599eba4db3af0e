import ImportEngine
import SQLiteDB

/// Buffers row results and writes them 64 to a statement: one statement per
/// row would cost more than the rows themselves.
struct RowResultSink {
    static let width = 64
    private let importID: Int64
    private let many: Statement
    private let one: Statement
    private var buffered: [(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?)] = []

    init(db: Connection, importID: Int64) throws {
        self.importID = importID
        let tuple = "(?, ?, ?, ?, ?, ?)"
        let sql = "INSERT INTO import_rows (import_id, row_number, outcome, contact_id, offset, previous) VALUES "
        many = try db.cached(sql + Array(repeating: tuple, count: Self.width).joined(separator: ", "))
        one = try db.cached(sql + tuple)
        buffered.reserveCapacity(Self.width)
    }

    mutating func add(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?) throws {
        buffered.append((row, outcome, contactID, offset, previous))
        if buffered.count == Self.width { try flush() }
    }

    mutating func flush() throws {
        guard !buffered.isEmpty else { return }
        let statement = buffered.count == Self.width ? many : one
        if buffered.count == Self.width {
            try bind(statement, buffered)
            try statement.step()
            statement.reset()
        } else {
            for entry in buffered {
                try bind(statement, [entry])
                try statement.step()
                statement.reset()
            }
        }
        buffered.removeAll(keepingCapacity: true)
    }

    private func bind(_ statement: Statement, _ entries: [(row: Int64, outcome: Int64, contactID: Int64?, offset: Int64, previous: [UInt8]?)]) throws {
        for (i, entry) in entries.enumerated() {
            let base = Int32(i * 6)
            try statement.bind(base + 1, importID)
            try statement.bind(base + 2, entry.row)
            try statement.bind(base + 3, entry.outcome)
            if let contactID = entry.contactID { try statement.bind(base + 4, contactID) } else { try statement.bindNull(base + 4) }
            try statement.bind(base + 5, entry.offset)
            if let previous = entry.previous { try statement.bind(base + 6, .blob(previous)) } else { try statement.bindNull(base + 6) }
        }
    }
}
