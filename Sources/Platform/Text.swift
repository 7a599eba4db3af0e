#if canImport(Glibc)
import Glibc
#endif

extension String {
    /// Without leading and trailing white space (Unicode's, so a no-break space
    /// pasted from a spreadsheet goes too).
    public var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}

extension String {
    /// In quotes for a log line: control characters escaped (a name with a
    /// newline cannot forge a line), at most 100 characters.
    public var logQuoted: String {
        var out = "\""
        for scalar in unicodeScalars.prefix(100) {
            switch scalar {
            case "\"", "\\": out += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + (unicodeScalars.count > 100 ? "…\"" : "\"")
    }
}

/// Times of day in UTC as text, from seconds since the Unix epoch (no
/// Foundation formatter: one `gmtime_r` and `strftime`).
public enum UTCTime {
    /// `2026-01-05T10:15:00Z`
    public static func iso8601(seconds: Int64) -> String { format(seconds: seconds, "%Y-%m-%dT%H:%M:%SZ") }

    /// `2026-01-05 10:15:00 UTC`
    public static func readable(seconds: Int64) -> String { format(seconds: seconds, "%Y-%m-%d %H:%M:%S UTC") }

    /// `10:15:00 UTC`
    public static func timeOfDay(seconds: Int64) -> String { format(seconds: seconds, "%H:%M:%S UTC") }

    /// `seconds` formatted with a `strftime` pattern, in UTC.
    public static func format(seconds: Int64, _ pattern: String) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// `HOST:PORT`, with IPv6 hosts in brackets (`[::1]:50051`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// Parses `HOST:PORT`; port 0 (the system picks) only when `allowAnyPort`.
    public init?(_ text: String, allowAnyPort: Bool = false) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              ((allowAnyPort ? 0 : 1)...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
