/// What happened to one row.
public enum RowOutcome: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case created = 1, updated, skipped, failed

    public var description: String {
        switch self {
        case .created: return "CREATED"
        case .updated: return "UPDATED"
        case .skipped: return "SKIPPED"
        case .failed: return "FAILED"
        }
    }
}

/// How SummarizeImport groups rows.
public enum RowGrouping: Sendable, Hashable {
    case outcome, errorCode, column
}

/// One row's result.
public struct ImportRowRecord: Sendable, Hashable {
    public var rowNumber: Int64
    public var outcome: RowOutcome
    public var contactID: Int64?
    public var errors: [RowError]
    /// Where the row is in the spooled file.
    public var offset: Int64
    /// A revert left this row's contact in place (a later import changed it).
    public var revertKept: Bool

    public init(
        rowNumber: Int64,
        outcome: RowOutcome,
        contactID: Int64? = nil,
        errors: [RowError],
        offset: Int64,
        revertKept: Bool
    ) {
        self.rowNumber = rowNumber
        self.outcome = outcome
        self.contactID = contactID
        self.errors = errors
        self.offset = offset
        self.revertKept = revertKept
    }
}
