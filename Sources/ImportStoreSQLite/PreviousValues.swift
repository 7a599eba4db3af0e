/// What an UPDATE overwrote: fields (NULL when they were empty), kind, and the
/// contact's last updater, for a revert to put back.
struct PreviousValues {
    var fields: [(Int, String?)] = []
    var kind: Int64 = 0
    var updatedBy: Int64?
    var updatedAt: Int64 = 0

    /// `kind|updatedBy|updatedAt` then `\u{1E}slot\u{1F}value` per field
    /// (`\u{1D}` for NULL), UTF-8.
    func encoded() -> [UInt8] {
        var text = "\(kind)|\(updatedBy.map(String.init) ?? "")|\(updatedAt)"
        for (slot, value) in fields {
            text += "\u{1E}\(slot)\u{1F}\(value ?? "\u{1D}")"
        }
        return Array(text.utf8)
    }

    static func decode(_ bytes: [UInt8]) -> PreviousValues? {
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
