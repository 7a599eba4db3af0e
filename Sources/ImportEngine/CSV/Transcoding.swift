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

/// Strict UTF-8 validation (no overlong forms, no surrogates, nothing past
/// U+10FFFF), telling an invalid sequence from one cut off by the end of the
/// bytes, as happens at a chunk boundary.
public enum UTF8Check: Equatable, Sendable {
    case valid
    case invalid
    /// Valid up to `at`, where a sequence begins that the bytes end inside.
    case incomplete(at: Int)

    public static func scan(_ bytes: ArraySlice<UInt8>) -> UTF8Check {
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i < end {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var scalar: UInt32
            switch b0 {
            case 0xC2...0xDF: length = 2; scalar = UInt32(b0 & 0x1F)
            case 0xE0...0xEF: length = 3; scalar = UInt32(b0 & 0x0F)
            case 0xF0...0xF4: length = 4; scalar = UInt32(b0 & 0x07)
            default: return .invalid
            }
            for k in 1..<length {
                guard i + k < end else { return .incomplete(at: i) }
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return .invalid }
                scalar = scalar << 6 | UInt32(b & 0x3F)
                // Overlong and out-of-range forms show in the first two bytes.
                if k == 1 && ((b0 == 0xE0 && b < 0xA0) || (b0 == 0xED && b > 0x9F) || (b0 == 0xF0 && b < 0x90) || (b0 == 0xF4 && b > 0x8F)) {
                    return .invalid
                }
            }
            i += length
        }
        return .valid
    }
}

/// Converts an upload to UTF-8 chunk by chunk. With a declared encoding it
/// converts from that; without one it detects the encoding at the first byte
/// that is not ASCII: UTF-8 (with or without a BOM) when what follows in that
/// chunk is valid UTF-8, else windows-1252 (Excel's "CSV" on Western systems).
/// Until then every byte is ASCII, the same in all three encodings.
public struct UploadTranscoder: Sendable {
    /// Declared, or detected; nil while only ASCII has been seen.
    public private(set) var encoding: TextEncoding?
    /// The start of a UTF-8 sequence cut off by the end of the last chunk, while undecided.
    private var held: [UInt8] = []

    public init(declared: TextEncoding?) {
        encoding = declared
    }

    /// The encoding the file is read in: what was declared or detected, UTF-8
    /// for a file of ASCII only.
    public var used: TextEncoding { encoding ?? .utf8 }

    /// Appends `chunk`, converted, to `out`.
    public mutating func convert(_ chunk: [UInt8], into out: inout [UInt8]) {
        if let encoding {
            encoding.appendUTF8(chunk[...], to: &out)
            return
        }
        let input = held.isEmpty ? chunk[...] : (held + chunk)[...]
        held = []
        guard let firstHigh = input.firstIndex(where: { $0 >= 0x80 }) else {
            out.append(contentsOf: input)
            return
        }
        switch UTF8Check.scan(input[firstHigh...]) {
        case .valid:
            encoding = .utf8
        case .invalid:
            encoding = .windows1252
        case .incomplete(let at):
            if at == firstHigh {
                // Nothing to judge by yet: keep the cut-off sequence for the next chunk.
                out.append(contentsOf: input[..<firstHigh])
                held = Array(input[firstHigh...])
                return
            }
            encoding = .utf8
        }
        encoding!.appendUTF8(input, to: &out)
    }

    /// At the end of the file: a sequence still cut off is not UTF-8.
    public mutating func finish(into out: inout [UInt8]) {
        guard encoding == nil, !held.isEmpty else { return }
        encoding = .windows1252
        TextEncoding.windows1252.appendUTF8(held[...], to: &out)
        held = []
    }
}
