/// gRPC's Length-Prefixed-Message framing: a compressed flag byte, a 4-byte
/// big-endian length, then the message.
public enum MessageFraming {
    public static let headerSize = 5

    /// Serializes `message` and frames it, in one buffer.
    public static func frame(_ message: some RPCMessage) -> [UInt8] {
        message.framedBytes()
    }

    /// Frames an already serialized message.
    public static func frame(payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 0, 0]
        bytes.append(contentsOf: payload)
        writeLength(&bytes)
        return bytes
    }

    /// Writes the prefix of `bytes`: flag 0 and the length of what follows it.
    public static func writeLength(_ bytes: inout [UInt8]) {
        writePrefix(length: bytes.count - headerSize, into: &bytes)
    }

    /// Writes the 5-byte prefix (flag 0, `length` big-endian) at the start of `bytes`.
    @inlinable
    public static func writePrefix<Bytes: MutableCollection>(length: Int, into bytes: inout Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        let length = UInt32(length)
        let start = bytes.startIndex
        bytes[start] = 0
        bytes[start + 1] = UInt8(truncatingIfNeeded: length >> 24)
        bytes[start + 2] = UInt8(truncatingIfNeeded: length >> 16)
        bytes[start + 3] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[start + 4] = UInt8(truncatingIfNeeded: length)
    }
}

/// Why a received byte stream could not be split into messages.
public enum DeframingError: Error, Sendable, Hashable {
    /// A message's declared length is over the receiver's limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The compressed flag is set but no compression was negotiated.
    case compressionNotSupported
    /// The flag byte is neither 0 nor 1.
    case invalidFlag(UInt8)
    /// A compressed message inflates past the receiver's limit (checked while inflating).
    case decompressedTooLarge(limit: Int)
    /// A compressed message that does not inflate.
    case corruptCompressedMessage(String)

    /// The status the call ends with.
    public var rpcError: RPCError {
        switch self {
        case .messageTooLarge(let length, let limit):
            return RPCError(
                code: .resourceExhausted,
                message: "message of \(length) bytes is larger than the limit of \(limit) bytes")
        case .compressionNotSupported:
            return RPCError(
                code: .internal,
                message: "received a compressed message but no grpc-encoding was negotiated")
        case .invalidFlag(let flag):
            return RPCError(code: .internal, message: "invalid message flag \(flag) (0 or 1 expected)")
        case .decompressedTooLarge(let limit):
            return RPCError(
                code: .resourceExhausted,
                message: "compressed message inflates past the limit of \(limit) bytes")
        case .corruptCompressedMessage(let why):
            return RPCError(code: .internal, message: "cannot decompress a message: \(why)")
        }
    }
}

/// Splits a byte stream, arriving in chunks of any size, into messages.
///
/// A message's length is checked against the limit as soon as its 5-byte prefix is
/// complete, before its body is buffered, so an oversized message costs nothing.
public struct MessageDeframer: Sendable {
    /// Inflates a compressed message's bytes, producing at most `limit` bytes.
    public typealias Decompressor = @Sendable (_ bytes: [UInt8], _ limit: Int) throws(DeframingError) -> [UInt8]

    public let maxMessageSize: Int
    /// How compressed messages (flag 1) are inflated: the call's `grpc-encoding`.
    /// Nil: a compressed message is an error.
    public var decompressor: Decompressor?

    /// The prefix bytes seen so far, packed big-endian, and how many.
    @usableFromInline var header: UInt64 = 0
    @usableFromInline var headerCount = 0
    @usableFromInline var body: [UInt8] = []
    @usableFromInline var bodyLength = -1
    @usableFromInline var compressed = false

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// True while part of a message has been received.
    public var hasPartialMessage: Bool { headerCount > 0 || bodyLength >= 0 }

    /// Bytes of the message in progress held in memory.
    public var partialBytes: Int { headerCount + body.count }

    /// Feeds `bytes`; calls `onMessage` for every message they complete, in order.
    @inlinable
    public mutating func process<Bytes: Collection>(
        _ bytes: Bytes, onMessage: ([UInt8]) throws -> Void
    ) throws where Bytes.Element == UInt8, Bytes.Index == Int {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bodyLength < 0 {
                while headerCount < MessageFraming.headerSize && index < bytes.endIndex {
                    header = header << 8 | UInt64(bytes[index])
                    headerCount += 1
                    index += 1
                }
                guard headerCount == MessageFraming.headerSize else { return }
                let flag = UInt8(truncatingIfNeeded: header >> 32)
                guard flag <= 1 else { throw DeframingError.invalidFlag(flag) }
                if flag == 1 && decompressor == nil { throw DeframingError.compressionNotSupported }
                compressed = flag == 1
                let length = Int(header & 0xFFFF_FFFF)
                if length > maxMessageSize {
                    throw DeframingError.messageTooLarge(length: length, limit: maxMessageSize)
                }
                header = 0
                headerCount = 0
                bodyLength = length
                body = []
                // Memory follows the bytes that arrive, not the length declared:
                // a peer that announces 4 MiB and sends 5 bytes costs 5 bytes.
                body.reserveCapacity(min(length, bytes.endIndex - index))
            }
            let take = min(bodyLength - body.count, bytes.endIndex - index)
            body.append(contentsOf: bytes[index..<(index + take)])
            index += take
            if body.count == bodyLength {
                var message = body
                body = []
                bodyLength = -1
                if compressed, let decompressor {
                    message = try decompressor(message, maxMessageSize)
                }
                try onMessage(message)
            }
        }
    }
}
