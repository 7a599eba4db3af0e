/// Contact or lead.
public enum ContactKind: Int, Sendable, Hashable {
    case contact = 1, lead = 2
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
