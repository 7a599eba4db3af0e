/// How stores keep lists and an update's previous values: shared by the
/// SQLite and PostgreSQL stores, so either reads what the other would write.

/// How lists live in TEXT columns: ids comma-separated; strings and map entries
/// separated by the ASCII record (0x1E) and unit (0x1F) separators.
package enum StoreCodec {
    package static func ids(_ ids: [Int64]) -> String { ids.map(String.init).joined(separator: ",") }
    package static func ids(_ text: String) -> [Int64] { text.split(separator: ",").compactMap { Int64($0) } }
    package static func list(_ items: [String]) -> String { items.joined(separator: "\u{1E}") }
    package static func list(_ text: String) -> [String] { text.isEmpty ? [] : text.split(separator: "\u{1E}", omittingEmptySubsequences: false).map(String.init) }

    package static func map(_ map: [String: String]) -> String {
        map.sorted { $0.key < $1.key }.map { "\($0.key)\u{1F}\($0.value)" }.joined(separator: "\u{1E}")
    }

    package static func map(_ text: String) -> [String: String] {
        var map: [String: String] = [:]
        for entry in list(text) {
            let parts = entry.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { map[String(parts[0])] = String(parts[1]) }
        }
        return map
    }
}

/// What an UPDATE overwrote: fields (NULL when they were empty), kind, and the
/// contact's last updater, for a revert to put back.
package struct PreviousValues {
    package var fields: [(Int, String?)] = []
    package var kind: Int64 = 0
    package var updatedBy: Int64?
    package var updatedAt: Int64 = 0

    package init(fields: [(Int, String?)] = [], kind: Int64 = 0, updatedBy: Int64? = nil, updatedAt: Int64 = 0) {
        self.fields = fields
        self.kind = kind
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
    }

    /// `kind|updatedBy|updatedAt` then `\u{1E}slot\u{1F}value` per field
    /// (`\u{1D}` for NULL), UTF-8.
    package func encoded() -> [UInt8] {
        var text = "\(kind)|\(updatedBy.map(String.init) ?? "")|\(updatedAt)"
        for (slot, value) in fields {
            text += "\u{1E}\(slot)\u{1F}\(value ?? "\u{1D}")"
        }
        return Array(text.utf8)
    }

    package static func decode(_ bytes: [UInt8]) -> PreviousValues? {
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\u{1E}", omittingEmptySubsequences: false)
        guard let head = parts.first else { return nil }
        let meta = head.split(separator: "|", omittingEmptySubsequences: false)
        guard meta.count == 3, let kind = Int64(meta[0]), let updatedAt = Int64(meta[2]) else { return nil }
        var previous = PreviousValues(kind: kind, updatedBy: Int64(meta[1]), updatedAt: updatedAt)
        for part in parts.dropFirst() {
            let pair = part.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let slot = Int(pair[0]) else { return nil }
            previous.fields.append((slot, pair[1] == "\u{1D}" ? nil : String(pair[1])))
        }
        return previous
    }
}
