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
