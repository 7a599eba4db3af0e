/// Contact or lead.
public enum ContactKind: Int, Sendable, Hashable {
    case contact = 1, lead = 2
}

/// What to do with a row that matches an existing contact.
public enum DuplicatePolicy: Int, Sendable, Hashable {
    /// Merge the row's non-empty fields into the existing contact.
    case update = 1
    /// Leave the existing contact alone.
    case skip = 2
}

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

/// Microseconds since the Unix epoch, UTC.
public struct WallTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public init(seconds: Int64) {
        self.microseconds = seconds * 1_000_000
    }

    public static func < (lhs: WallTime, rhs: WallTime) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func + (lhs: WallTime, rhs: Duration) -> WallTime {
        let (seconds, attoseconds) = rhs.components
        return WallTime(microseconds: lhs.microseconds + seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
    }

    public static func - (lhs: WallTime, rhs: WallTime) -> Duration {
        .microseconds(lhs.microseconds - rhs.microseconds)
    }

    public var seconds: Int64 { microseconds.floorDiv(1_000_000) }
    public var nanosecondsPart: Int32 { Int32((microseconds - seconds * 1_000_000) * 1000) }

    public var description: String { "\(Double(microseconds) / 1e6)" }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

/// Public ids: a type prefix and a number (`imp_12`, `ct_3041`), so an id names
/// what it is and a mixed-up id is a clear NOT_FOUND.
public enum ResourceKind: String, Sendable {
    case importJob = "imp"
    case contact = "ct"
    case campaign = "cmp"
    case subscription = "sub"
    case token = "tok"

    public func format(_ id: Int64) -> String { "\(rawValue)_\(id)" }

    /// The number in `text`, when it is an id of this kind.
    public func parse(_ text: String) -> Int64? {
        let prefix = rawValue + "_"
        guard text.hasPrefix(prefix), let id = Int64(text.dropFirst(prefix.count)), id > 0 else { return nil }
        return id
    }
}

/// An import and everything about it.
public struct ImportJob: Sendable, Hashable {
    public var id: Int64
    public var state: ImportState
    public var fileName: String
    /// The kind of the contacts it creates.
    public var kind: ContactKind
    /// Whether the upload said contact or lead. If not, an update keeps the
    /// existing contact's kind.
    public var kindExplicit: Bool
    public var originCampaignID: Int64?
    public var subscriptionIDs: [Int64]
    public var onDuplicate: DuplicatePolicy
    public var columnMap: [String: String]
    public var ignoreUnknownColumns: Bool
    public var validateOnly: Bool
    /// The encoding the file was read in (declared, or detected).
    public var encoding: TextEncoding
    public var sha256: String
    /// The latest earlier import of a file with the same SHA-256.
    public var sameFileAs: Int64?
    public var bytes: Int64
    public var totalRows: Int64
    public var processedRows: Int64 = 0
    public var created: Int64 = 0
    public var updated: Int64 = 0
    public var skipped: Int64 = 0
    public var failed: Int64 = 0
    /// Why it FAILED; after a revert, what the revert left in place.
    public var error: String?
    public var createdAt: WallTime
    public var startedAt: WallTime?
    public var finishedAt: WallTime?
    public var updatedAt: WallTime
    public var revertedRows: Int64 = 0
    public var revertKeptRows: Int64 = 0
    /// Grows with every stored change: a watcher drops snapshots not newer
    /// than the last it sent.
    public var version: Int64 = 0

    // Processing.
    /// The spooled (UTF-8) file, relative to the spool directory.
    public var spoolName: String
    public var header: [String]
    public var delimiter: UInt8
    /// Where the first data row starts, and where processing goes on.
    public var dataOffset: Int64
    public var checkpointOffset: Int64
    /// Rows done before `checkpointOffset`.
    public var checkpointRow: Int64

    public var publicID: String { ResourceKind.importJob.format(id) }

    /// A job as `new` creates it: queued, nothing processed yet.
    public init(id: Int64, state: ImportState = .queued, _ new: NewImport) {
        self.id = id
        self.state = state
        fileName = new.fileName
        kind = new.kind
        kindExplicit = new.kindExplicit
        originCampaignID = new.originCampaignID
        subscriptionIDs = new.subscriptionIDs
        onDuplicate = new.onDuplicate
        columnMap = new.columnMap
        ignoreUnknownColumns = new.ignoreUnknownColumns
        validateOnly = new.validateOnly
        encoding = new.encoding
        sha256 = new.sha256
        bytes = new.bytes
        totalRows = new.totalRows
        createdAt = new.createdAt
        updatedAt = new.createdAt
        spoolName = new.spoolName
        header = new.header
        delimiter = new.delimiter
        dataOffset = new.dataOffset
        checkpointOffset = new.dataOffset
        checkpointRow = 0
    }
}

/// What an upload creates.
public struct NewImport: Sendable {
    public var fileName: String
    public var kind: ContactKind
    public var kindExplicit: Bool
    public var originCampaignID: Int64?
    public var subscriptionIDs: [Int64]
    public var onDuplicate: DuplicatePolicy
    public var columnMap: [String: String]
    public var ignoreUnknownColumns: Bool
    public var validateOnly: Bool
    public var encoding: TextEncoding
    public var sha256: String
    public var bytes: Int64
    public var totalRows: Int64
    public var spoolName: String
    public var header: [String]
    public var delimiter: UInt8
    public var dataOffset: Int64
    public var createdAt: WallTime

    public init(
        fileName: String,
        kind: ContactKind,
        kindExplicit: Bool = true,
        originCampaignID: Int64? = nil,
        subscriptionIDs: [Int64],
        onDuplicate: DuplicatePolicy,
        columnMap: [String: String],
        ignoreUnknownColumns: Bool,
        validateOnly: Bool,
        encoding: TextEncoding,
        sha256: String,
        bytes: Int64,
        totalRows: Int64,
        spoolName: String,
        header: [String],
        delimiter: UInt8,
        dataOffset: Int64,
        createdAt: WallTime
    ) {
        self.fileName = fileName
        self.kind = kind
        self.kindExplicit = kindExplicit
        self.originCampaignID = originCampaignID
        self.subscriptionIDs = subscriptionIDs
        self.onDuplicate = onDuplicate
        self.columnMap = columnMap
        self.ignoreUnknownColumns = ignoreUnknownColumns
        self.validateOnly = validateOnly
        self.encoding = encoding
        self.sha256 = sha256
        self.bytes = bytes
        self.totalRows = totalRows
        self.spoolName = spoolName
        self.header = header
        self.delimiter = delimiter
        self.dataOffset = dataOffset
        self.createdAt = createdAt
    }
}

/// The two kinds of named, coded tags on contacts: one implementation, two instances.
public enum TagKind: Sendable, Hashable, CaseIterable {
    /// A contact's origin (one per contact).
    case campaign
    /// A mailing list (any number per contact).
    case subscription

    /// How ids of this kind are written (`cmp_3`, `sub_1`).
    public var resource: ResourceKind { self == .campaign ? .campaign : .subscription }
    /// The word for it in messages.
    public var noun: String { self == .campaign ? "campaign" : "subscription" }
}

/// A campaign (a contact's origin) or a subscription (a mailing list).
public struct AudienceTag: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var code: String?
    public var createdAt: WallTime

    public init(id: Int64, name: String, code: String?, createdAt: WallTime) {
        self.id = id
        self.name = name
        self.code = code
        self.createdAt = createdAt
    }
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

/// A contact as stored.
public struct ContactRecord: Sendable, Hashable {
    public var id: Int64
    public var kind: ContactKind
    public var fields: [ContactField: String]
    public var originCampaignID: Int64?
    public var subscriptionIDs: [Int64]
    public var createdByImportID: Int64?
    public var updatedByImportID: Int64?
    public var createdAt: WallTime
    public var updatedAt: WallTime

    public init(
        id: Int64,
        kind: ContactKind,
        fields: [ContactField: String],
        originCampaignID: Int64? = nil,
        subscriptionIDs: [Int64],
        createdByImportID: Int64? = nil,
        updatedByImportID: Int64? = nil,
        createdAt: WallTime,
        updatedAt: WallTime
    ) {
        self.id = id
        self.kind = kind
        self.fields = fields
        self.originCampaignID = originCampaignID
        self.subscriptionIDs = subscriptionIDs
        self.createdByImportID = createdByImportID
        self.updatedByImportID = updatedByImportID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What an API token may do.
public enum TokenScope: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case read = 1, write, admin

    public static func < (lhs: TokenScope, rhs: TokenScope) -> Bool { lhs.rawValue < rhs.rawValue }

    public init?(name: String) {
        switch name.lowercased() {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .read: return "read"
        case .write: return "write"
        case .admin: return "admin"
        }
    }
}

/// An API token; only its hash is stored.
public struct APIToken: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var scope: TokenScope
    public var createdAt: WallTime
    public var revokedAt: WallTime?

    public init(
        id: Int64,
        name: String,
        scope: TokenScope,
        createdAt: WallTime,
        revokedAt: WallTime? = nil
    ) {
        self.id = id
        self.name = name
        self.scope = scope
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}
