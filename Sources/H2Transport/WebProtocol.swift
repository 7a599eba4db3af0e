import RPCCore

/// The browser protocols the web listener speaks, told apart by the request's
/// content type, as the Connect protocol (connectrpc.com/docs/protocol) and
/// gRPC-Web (grpc/grpc PROTOCOL-WEB.md) define them. Pure values: no sockets.
public enum WebProtocol: Equatable, Sendable {
    public enum Codec: Sendable, Equatable { case json, proto }

    /// Connect unary: `application/json` or `application/proto`; the body is
    /// the bare message; errors are JSON with an HTTP status from the code.
    case connectUnary(Codec)
    /// Connect streaming: `application/connect+json|proto`; enveloped
    /// messages, then an end-of-stream envelope holding the status as JSON.
    case connectStreaming(Codec)
    /// gRPC-Web: `application/grpc-web[+proto]` or `application/grpc-web-text[+proto]`
    /// (base64): gRPC's framing, the trailers in a final 0x80 frame.
    case grpcWeb(text: Bool)

    public init?(contentType: String) {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces.lowercased() } ?? ""
        switch type {
        case "application/json": self = .connectUnary(.json)
        case "application/proto", "application/protobuf", "application/x-protobuf": self = .connectUnary(.proto)
        case "application/connect+json": self = .connectStreaming(.json)
        case "application/connect+proto": self = .connectStreaming(.proto)
        case "application/grpc-web", "application/grpc-web+proto": self = .grpcWeb(text: false)
        case "application/grpc-web-text", "application/grpc-web-text+proto": self = .grpcWeb(text: true)
        default: return nil
        }
    }

    /// The response's content type.
    public var responseContentType: String {
        switch self {
        case .connectUnary(.json): return "application/json"
        case .connectUnary(.proto): return "application/proto"
        case .connectStreaming(.json): return "application/connect+json"
        case .connectStreaming(.proto): return "application/connect+proto"
        case .grpcWeb(text: false): return "application/grpc-web+proto"
        case .grpcWeb(text: true): return "application/grpc-web-text+proto"
        }
    }

    public var codec: Codec {
        switch self {
        case .connectUnary(let codec), .connectStreaming(let codec): return codec
        case .grpcWeb: return .proto
        }
    }

    /// The request's messages from its body: the bare message for Connect
    /// unary, envelopes otherwise. Compressed envelopes are refused: the web
    /// listener advertises no compression.
    public func requestMessages(body: [UInt8], maxMessageSize: Int) throws(RPCError) -> [[UInt8]] {
        switch self {
        case .connectUnary:
            guard body.count <= maxMessageSize else {
                throw RPCError(code: .resourceExhausted, message: "the request message is \(body.count) bytes, more than the limit of \(maxMessageSize)")
            }
            return [body]
        case .connectStreaming:
            return try Self.envelopes(body, maxMessageSize: maxMessageSize)
        case .grpcWeb(let text):
            var bytes = body
            if text {
                guard let decoded = Self.decodeBase64Segments(body) else {
                    throw RPCError(code: .invalidArgument, message: "the grpc-web-text body is not base64")
                }
                bytes = decoded
            }
            return try Self.envelopes(bytes, maxMessageSize: maxMessageSize)
        }
    }

    /// Splits enveloped messages (a flags byte, a 4-byte big-endian length).
    static func envelopes(_ bytes: [UInt8], maxMessageSize: Int) throws(RPCError) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes.count - i >= 5 else { throw RPCError(code: .invalidArgument, message: "the request ends inside a message prefix") }
            let flags = bytes[i]
            let length = Int(bytes[i + 1]) << 24 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            guard flags & 0x01 == 0 else { throw RPCError(code: .unimplemented, message: "compressed messages are not accepted here; send them uncompressed") }
            guard length <= maxMessageSize else {
                throw RPCError(code: .resourceExhausted, message: "the request message is \(length) bytes, more than the limit of \(maxMessageSize)")
            }
            guard bytes.count - i - 5 >= length else { throw RPCError(code: .invalidArgument, message: "the request ends inside a message") }
            messages.append(Array(bytes[(i + 5)..<(i + 5 + length)]))
            i += 5 + length
        }
        return messages
    }

    /// grpc-web-text bodies may be several padded base64 pieces one after another.
    static func decodeBase64Segments(_ body: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var start = 0
        var i = 0
        let text = body.filter { $0 != 0x0A && $0 != 0x0D }
        while i < text.count {
            // A piece ends after its padding.
            if text[i] == UInt8(ascii: "=") {
                while i < text.count, text[i] == UInt8(ascii: "=") { i += 1 }
                guard let piece = Base64.decode(text[start..<i]) else { return nil }
                out += piece
                start = i
                continue
            }
            i += 1
        }
        if start < text.count {
            guard let piece = Base64.decode(text[start..<text.count]) else { return nil }
            out += piece
        }
        return out
    }

    /// A 5-byte-prefixed envelope.
    public static func envelope(flags: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [flags, UInt8(truncatingIfNeeded: payload.count >> 24), UInt8(truncatingIfNeeded: payload.count >> 16),
                            UInt8(truncatingIfNeeded: payload.count >> 8), UInt8(truncatingIfNeeded: payload.count)]
        out += payload
        return out
    }
}

/// Connect's error codes, names and HTTP statuses, and its error JSON.
public enum ConnectError {
    /// The Connect name of a code: gRPC's name in lower snake case (`canceled`
    /// is spelled the American way).
    public static func name(_ code: Status.Code) -> String {
        code == .cancelled ? "canceled" : code.name.lowercased()
    }

    /// The HTTP status a Connect unary error is sent with (google/rpc/code.proto's mapping).
    public static func httpStatus(_ code: Status.Code) -> Int {
        switch code {
        case .ok: return 200
        case .cancelled: return 499
        case .invalidArgument, .failedPrecondition, .outOfRange: return 400
        case .deadlineExceeded: return 504
        case .notFound: return 404
        case .alreadyExists, .aborted: return 409
        case .permissionDenied: return 403
        case .resourceExhausted: return 429
        case .unimplemented: return 501
        case .unavailable: return 503
        case .unauthenticated: return 401
        default: return 500
        }
    }

    /// `{"code": ..., "message": ..., "details": [{"type", "value", "debug"}]}`.
    public static func json(_ status: Status, details: [(type: String, value: [UInt8], json: String?)]) -> String {
        var out = "{\"code\":" + WebJSON.quote(name(status.code))
        if !status.message.isEmpty { out += ",\"message\":" + WebJSON.quote(status.message) }
        if !details.isEmpty {
            out += ",\"details\":["
            for (i, detail) in details.enumerated() {
                if i > 0 { out += "," }
                out += "{\"type\":" + WebJSON.quote(detail.type) + ",\"value\":" + WebJSON.quote(Base64.encode(detail.value, padded: false))
                if let json = detail.json { out += ",\"debug\":" + json }
                out += "}"
            }
            out += "]"
        }
        return out + "}"
    }

    /// The end-of-stream message of a Connect streaming response.
    public static func endStream(_ status: Status, details: [(type: String, value: [UInt8], json: String?)], trailers: Metadata) -> String {
        var parts: [String] = []
        if status.code != .ok { parts.append("\"error\":" + json(status, details: details)) }
        let metadata = WebHeaders.fields(trailers)
        if !metadata.isEmpty {
            var grouped: [(String, [String])] = []
            for (name, value) in metadata {
                if let i = grouped.firstIndex(where: { $0.0 == name }) { grouped[i].1.append(value) } else { grouped.append((name, [value])) }
            }
            parts.append("\"metadata\":{" + grouped.map { WebJSON.quote($0.0) + ":[" + $0.1.map(WebJSON.quote).joined(separator: ",") + "]" }
                .joined(separator: ",") + "}")
        }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

/// gRPC-Web's trailer frame.
public enum GRPCWebTrailers {
    /// `grpc-status`, `grpc-message` and the trailers as HTTP/1 header lines in
    /// a frame flagged 0x80.
    public static func frame(_ status: Status, trailers: Metadata) -> [UInt8] {
        var text = "grpc-status:\(status.code.rawValue)\r\n"
        if !status.message.isEmpty { text += "grpc-message:\(PercentEncoding.encode(status.message))\r\n" }
        for (name, value) in WebHeaders.fields(trailers) { text += "\(name):\(value)\r\n" }
        return WebProtocol.envelope(flags: 0x80, Array(text.utf8))
    }
}

/// Metadata to and from HTTP/1.1 header fields.
public enum WebHeaders {
    /// Request headers that are HTTP's own, not the call's metadata.
    static let notMetadata: Set<String> = [
        "host", "connection", "keep-alive", "content-type", "content-length", "transfer-encoding", "te", "upgrade", "accept",
        "accept-encoding", "accept-language", "user-agent", "origin", "referer", "cookie", "cache-control", "pragma",
        "connect-protocol-version", "connect-timeout-ms", "grpc-timeout", "x-grpc-web", "x-user-agent", "content-encoding",
        "connect-content-encoding", "connect-accept-encoding", "grpc-encoding", "grpc-accept-encoding", "expect", "dnt", "priority",
    ]

    /// The call's metadata from the request's header fields: names lower-cased,
    /// `-bin` values base64-decoded, HTTP's own headers and `sec-*` left out.
    public static func metadata(_ fields: [(name: String, value: String)]) -> Metadata {
        var metadata = Metadata()
        for (rawName, value) in fields {
            let name = rawName.lowercased()
            guard !notMetadata.contains(name), !name.hasPrefix("sec-"), !name.hasPrefix("access-control-"), !name.hasPrefix(":") else { continue }
            _ = metadata.addWire(name: name, value: Array(value.utf8))
        }
        return metadata
    }

    /// Metadata as header fields (`-bin` values unpadded base64).
    public static func fields(_ metadata: Metadata) -> [(String, String)] {
        metadata.wireHeaders().map { ($0.name, $0.value) }
    }

    /// `Connect-Timeout-Ms` (milliseconds, up to 10 digits) or `grpc-timeout`.
    public static func timeout(_ fields: [(name: String, value: String)]) -> Duration? {
        for (name, value) in fields {
            switch name.lowercased() {
            case "connect-timeout-ms":
                guard value.count <= 10, let ms = Int64(value), ms >= 0 else { return nil }
                return .milliseconds(ms)
            case "grpc-timeout":
                return GRPCTimeout.parse(Array(value.utf8))
            default: continue
            }
        }
        return nil
    }
}

/// The little JSON the transport writes itself (errors, end-of-stream).
public enum WebJSON {
    public static func quote(_ s: String) -> String {
        var out = ""
        JSONText.quote(s, into: &out, forHTML: true)
        return out
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
