/// Errors setting up a transport.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    case bindFailed(String)
    case badAddress(String)
    case tls(String)

    public var description: String {
        switch self {
        case .bindFailed(let message), .badAddress(let message), .tls(let message): return message
        }
    }
}
