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
