/// The `grpc-timeout` header: at most 8 ASCII digits and a unit
/// (H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds).
public enum GRPCTimeout {
    /// Parses a header value; nil when it is malformed.
    public static func parse<Bytes: Collection>(_ value: Bytes) -> Duration? where Bytes.Element == UInt8 {
        guard value.count >= 2, value.count <= 9 else { return nil }
        var amount: Int64 = 0
        for c in value.dropLast() {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(c - UInt8(ascii: "0"))
        }
        switch value[value.index(value.startIndex, offsetBy: value.count - 1)] {
        case UInt8(ascii: "H"): return .seconds(amount * 3600)
        case UInt8(ascii: "M"): return .seconds(amount * 60)
        case UInt8(ascii: "S"): return .seconds(amount)
        case UInt8(ascii: "m"): return .milliseconds(amount)
        case UInt8(ascii: "u"): return .microseconds(amount)
        case UInt8(ascii: "n"): return .nanoseconds(amount)
        default: return nil
        }
    }

    /// Encodes a timeout in the finest unit that fits in 8 digits, rounding up so a
    /// deadline is never shortened.
    public static func encode(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return "1n" }
        let nanos = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        let units: [(Double, Character)] = [(1, "n"), (1e3, "u"), (1e6, "m"), (1e9, "S"), (60e9, "M"), (3600e9, "H")]
        for (scale, unit) in units {
            let value = (nanos / scale).rounded(.up)
            if value <= 99_999_999 {
                return "\(Int64(value))\(unit)"
            }
        }
        return "99999999H"
    }
}
