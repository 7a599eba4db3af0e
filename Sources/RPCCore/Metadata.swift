/// gRPC metadata: an ordered list of key-value pairs carried in HTTP/2 headers or
/// trailers. Keys are lower-case; a key ending in `-bin` carries binary values
/// (base64 on the wire), every other key ASCII text. A key may repeat.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One metadata value.
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        case string(String)
        case binary([UInt8])

        public var description: String {
            switch self {
            case .string(let s): return s
            case .binary(let b): return Base64.encode(b, padded: true)
            }
        }
    }

    public typealias Element = (key: String, value: Value)

    private var entries: [(key: String, value: Value)] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, Value)...) {
        for (key, value) in elements {
            add(key, value)
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// Adds a text value. `key` is lower-cased.
    public mutating func add(_ key: String, _ value: String) {
        entries.append((key.lowercased(), .string(value)))
    }

    /// Adds a binary value; `key` should end in `-bin`.
    public mutating func add(_ key: String, binary value: [UInt8]) {
        entries.append((key.lowercased(), .binary(value)))
    }

    public mutating func add(_ key: String, _ value: Value) {
        entries.append((key.lowercased(), value))
    }

    /// Replaces every value of `key` with one text value.
    public mutating func replace(_ key: String, with value: String) {
        let key = key.lowercased()
        entries.removeAll { $0.key == key }
        entries.append((key, .string(value)))
    }

    public mutating func removeAll(_ key: String) {
        let key = key.lowercased()
        entries.removeAll { $0.key == key }
    }

    /// Every value of `key`, in order.
    public subscript(_ key: String) -> [Value] {
        let key = key.lowercased()
        return entries.lazy.filter { $0.key == key }.map(\.value)
    }

    /// The first text value of `key`.
    public func first(_ key: String) -> String? {
        for value in self[key] {
            if case .string(let s) = value { return s }
        }
        return nil
    }

    /// The first binary value of `key`.
    public func firstBinary(_ key: String) -> [UInt8]? {
        for value in self[key] {
            if case .binary(let b) = value { return b }
        }
        return nil
    }

    public mutating func merge(_ other: Metadata) {
        entries.append(contentsOf: other.entries)
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> {
        entries.makeIterator()
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }

    public var description: String {
        "[" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]"
    }
}

extension Metadata {
    /// Headers that belong to the gRPC protocol itself (or to HTTP) and never
    /// appear as metadata; pseudo-headers (`:path`) too.
    public static let reservedNames: [StaticString] = [
        "content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-status", "grpc-message",
        "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "host",
    ]

    /// Whether `key` is reserved (see `reservedNames`).
    public static func isReserved(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { isReserved(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Whether the header name `utf8` is reserved; compares bytes, allocates nothing
    /// (the transport asks for every header it receives).
    public static func isReserved(utf8 name: UnsafeRawBufferPointer) -> Bool {
        if name.first == UInt8(ascii: ":") { return true }
        for reserved in reservedNames where reserved.utf8CodeUnitCount == name.count {
            if UnsafeRawBufferPointer(start: reserved.utf8Start, count: reserved.utf8CodeUnitCount).elementsEqual(name) { return true }
        }
        return false
    }

    /// Decodes one header received on the wire into metadata; `-bin` values are
    /// base64 (padded or not). Returns false for a value that is not valid base64.
    @discardableResult
    public mutating func addWire(name: String, value: [UInt8]) -> Bool {
        if name.hasSuffix("-bin") {
            guard let decoded = Base64.decode(value) else { return false }
            entries.append((name, .binary(decoded)))
        } else {
            entries.append((name, .string(String(decoding: value, as: UTF8.self))))
        }
        return true
    }

    /// The metadata as HTTP/2 header fields: `-bin` values base64 without padding.
    public func wireHeaders() -> [(name: String, value: String)] {
        entries.compactMap { entry in
            guard !Metadata.isReserved(entry.key) else { return nil }
            switch entry.value {
            case .string(let s):
                return (entry.key, s)
            case .binary(let b):
                return (entry.key, Base64.encode(b, padded: false))
            }
        }
    }
}

/// Standard base64 (RFC 4648 section 4), as gRPC uses for `-bin` metadata.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        // Accept the URL-safe alphabet too.
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    public static func encode(_ bytes: [UInt8], padded: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
            if padded { out.append(contentsOf: rest == 2 ? [61] : [61, 61]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded or unpadded base64; nil when the input is not base64.
    public static func decode<Bytes: Collection>(_ input: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in input {
            if c == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            if padding > 0 { return nil }  // data after padding
            let v = reverse[Int(c)]
            if v == 0xFF { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        if padding > 2 || bits >= 6 { return nil }
        return out
    }
}
