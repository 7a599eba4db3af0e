/// Microseconds since the Unix epoch, UTC.
public struct WallTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public init(seconds: Int64) {
        self.microseconds = seconds * 1_000_000
    }

    public static func < (lhs: WallTime, rhs: WallTime) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func + (lhs: WallTime, rhs: Duration) -> WallTime {
        let (seconds, attoseconds) = rhs.components
        return WallTime(microseconds: lhs.microseconds + seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
    }

    public static func - (lhs: WallTime, rhs: WallTime) -> Duration {
        .microseconds(lhs.microseconds - rhs.microseconds)
    }

    public var seconds: Int64 { microseconds.floorDiv(1_000_000) }
    public var nanosecondsPart: Int32 { Int32((microseconds - seconds * 1_000_000) * 1000) }

    public var description: String { "\(Double(microseconds) / 1e6)" }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
