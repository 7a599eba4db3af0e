/// Paging as Google's AIP-158: a page size with a default and a maximum, and
/// opaque tokens that carry where the last page ended and which query it was
/// (a token used with a different filter is refused).
public struct PageRequest: Sendable {
    public var size: Int
    /// The key to continue after (nil: from the start).
    public var after: Int64?
}

public enum Paging {
    public static let defaultSize = 50
    public static let maxSize = 1000

    /// Validates `pageSize` and decodes `pageToken` for the query `query`.
    public static func request(pageSize: Int32, pageToken: String, query: String) throws(ImportError) -> PageRequest {
        if pageSize < 0 { throw .invalidArgument("page_size must not be negative", violations: [FieldViolation(field: "page_size", description: "must be 0 or more")]) }
        let size = pageSize == 0 ? defaultSize : min(Int(pageSize), maxSize)
        if pageToken.isEmpty { return PageRequest(size: size, after: nil) }
        guard let decoded = PageToken.decode(pageToken), decoded.query == query else {
            throw .invalidArgument("page_token is not valid for this request (was the filter changed?)",
                violations: [FieldViolation(field: "page_token", description: "not a token of this query")])
        }
        return PageRequest(size: size, after: decoded.after)
    }

    /// The token of the next page, or "" when `count` < the page size (the end).
    public static func nextToken(count: Int, size: Int, lastKey: Int64?, query: String) -> String {
        guard count >= size, let lastKey else { return "" }
        return PageToken.encode(query: query, after: lastKey)
    }
}

/// Page tokens: base64url of "v1|<query>|<after>".
enum PageToken {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(query: String, after: Int64) -> String {
        let bytes = Array("v1|\(query)|\(after)".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = (UInt32(bytes[i]) << 16) | (i + 1 < bytes.count ? UInt32(bytes[i + 1]) << 8 : 0) | (i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0)
            let chars = min(4, (bytes.count - i) * 4 / 3 + ((bytes.count - i) % 3 == 0 ? 0 : 1))
            for k in 0..<chars { out.append(alphabet[Int((n >> UInt32(18 - 6 * k)) & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ token: String) -> (query: String, after: Int64)? {
        var reverse = [Int](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { reverse[Int(c)] = i }
        var bytes: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for c in token.utf8 {
            let v = reverse[Int(c)]
            guard v >= 0 else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let after = Int64(parts[2]) else { return nil }
        return (String(parts[1]), after)
    }
}
