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
