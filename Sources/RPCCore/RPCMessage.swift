/// A message that can cross the wire. Generated message types conform to it.
public protocol RPCMessage: Sendable {
    /// Decodes a message from its protobuf wire form.
    init(serializedBytes: [UInt8]) throws
    /// Appends the message's protobuf wire form to `buffer`.
    func serialize(into buffer: inout [UInt8])
    /// The message in gRPC's length-prefixed framing. The default serializes after
    /// a 5-byte prefix; message types that know their size first do it in one
    /// allocation.
    func framedBytes() -> [UInt8]
}

extension RPCMessage {
    public func framedBytes() -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 0, 0, 0]
        serialize(into: &bytes)
        MessageFraming.writeLength(&bytes)
        return bytes
    }

    /// The message's protobuf wire form.
    public func serializedBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        serialize(into: &bytes)
        return bytes
    }
}

/// A message could not be decoded from its wire form.
public struct MessageDecodingError: Error, Sendable, CustomStringConvertible {
    public let typeName: String

    public init(typeName: String) {
        self.typeName = typeName
    }

    public var description: String { "could not decode \(typeName)" }
}
