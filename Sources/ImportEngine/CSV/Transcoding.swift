/// The text encodings an upload may declare; everything is stored as UTF-8.
public enum TextEncoding: String, Sendable, CaseIterable {
    case utf8 = "utf-8"
    case windows1252 = "windows-1252"
    case iso88591 = "iso-8859-1"

    /// Parses a declared encoding name (case-insensitive, common spellings);
    /// empty means UTF-8.
    public init?(name: String) {
        switch String(name.lowercased().map { $0 == "_" ? "-" : $0 }) {
        case "", "utf-8", "utf8": self = .utf8
        case "windows-1252", "cp1252", "win-1252": self = .windows1252
        case "iso-8859-1", "latin1", "latin-1", "iso8859-1": self = .iso88591
        default: return nil
        }
    }

    /// Appends `bytes`, converted to UTF-8, to `out`. Single-byte encodings
    /// convert byte by byte, so chunks can be converted independently.
    public func appendUTF8(_ bytes: ArraySlice<UInt8>, to out: inout [UInt8]) {
        switch self {
        case .utf8:
            out.append(contentsOf: bytes)
        case .windows1252, .iso88591:
            out.reserveCapacity(out.count + bytes.count + bytes.count / 8)
            for byte in bytes {
                if byte < 0x80 {
                    out.append(byte)
                    continue
                }
                let scalar: UInt32
                if self == .windows1252 && byte < 0xA0 {
                    scalar = TextEncoding.windows1252High[Int(byte - 0x80)]
                } else {
                    scalar = UInt32(byte)
                }
                if scalar < 0x800 {
                    out.append(UInt8(0xC0 | (scalar >> 6)))
                    out.append(UInt8(0x80 | (scalar & 0x3F)))
                } else {
                    out.append(UInt8(0xE0 | (scalar >> 12)))
                    out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                    out.append(UInt8(0x80 | (scalar & 0x3F)))
                }
            }
        }
    }

    /// windows-1252 bytes 0x80...0x9F; the five undefined ones map to the C1
    /// controls of the same value, as browsers and Python's "replace" do not.
    static let windows1252High: [UInt32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]
}
