import RPCCore

/// A campaign or a subscription on the wire: the two messages have the same
/// shape, so the service and importctl treat them with one piece of code.
public protocol TagMessage: ProtoJSONRepresentable, RPCMessage {
    init()
    var id: String { get set }
    var name: String { get set }
    var code: String { get set }
    var createdAt: GoogleProtobuf.Timestamp? { get set }
}

extension ImportsV1.Campaign: TagMessage {}
extension ImportsV1.Subscription: TagMessage {}
