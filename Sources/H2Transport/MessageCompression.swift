import Gzip
import RPCCore

/// gRPC message compression on this transport (gRPC's compression spec): gzip
/// and identity. A peer's compressed message is inflated up to the message
/// size limit and no further (a zip bomb costs at most the limit).
enum MessageCompression {
    /// What we accept, sent as `grpc-accept-encoding`.
    static let accepted = "identity,gzip"
    /// Messages smaller than this are sent uncompressed even when compression is
    /// on (each message has its own flag; gzip's 18 bytes of framing would not pay).
    static let minimumSize = 128

    /// The decompressor for an encoding we accept; nil for identity.
    static func decompressor(for encoding: MessageEncoding) -> MessageDeframer.Decompressor? {
        switch encoding {
        case .identity: return nil
        case .gzip: return gunzip
        }
    }

    private static let gunzip: MessageDeframer.Decompressor = { bytes, limit throws(DeframingError) in
        do throws(GzipError) {
            return try Gzip.decompress(bytes, limit: limit)
        } catch {
            switch error {
            case .tooLarge(let limit): throw .decompressedTooLarge(limit: limit)
            case .corrupt(let why): throw .corruptCompressedMessage(why)
            }
        }
    }

    /// A framed message (flag 0) compressed with `encoding` when that makes it
    /// smaller: flag 1 and the compressed bytes. Otherwise `framed` itself.
    static func compress(_ framed: [UInt8], _ encoding: MessageEncoding) -> [UInt8] {
        guard encoding == .gzip, framed.count - MessageFraming.headerSize >= minimumSize else { return framed }
        let compressed = Gzip.compress(Array(framed[MessageFraming.headerSize...]))
        guard compressed.count < framed.count - MessageFraming.headerSize else { return framed }
        var message = MessageFraming.frame(payload: compressed)
        message[0] = 1
        return message
    }

    /// The encoding named by a `grpc-encoding` value; nil for one we do not speak.
    static func encoding(named name: String) -> MessageEncoding? {
        name.isEmpty ? .identity : MessageEncoding(rawValue: name)
    }

    /// Whether a `grpc-accept-encoding` value lists `encoding`.
    static func accepts(_ header: String, _ encoding: MessageEncoding) -> Bool {
        header.split(separator: ",").contains { $0.split(separator: " ").first.map(String.init) == encoding.rawValue }
    }
}
