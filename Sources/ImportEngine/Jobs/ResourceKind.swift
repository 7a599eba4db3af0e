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
