/// What to do with a row that matches an existing contact.
public enum DuplicatePolicy: Int, Sendable, Hashable {
    /// Merge the row's non-empty fields into the existing contact.
    case update = 1
    /// Leave the existing contact alone.
    case skip = 2
}

/// What an upload creates.
public struct NewImport: Sendable, Hashable {
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
