import Synchronization

/// What a handler knows about its call, and where it sets response metadata.
public struct ServerContext: Sendable {
    /// The method being called.
    public let method: MethodDescriptor
    /// The request metadata (HTTP/2 headers other than gRPC's own).
    public let metadata: Metadata
    /// When the client stops waiting, from `grpc-timeout`.
    public let deadline: ContinuousClock.Instant?
    /// The peer's address, e.g. `127.0.0.1:53412`.
    public let peer: String

    let response: ResponseMetadata
    /// Ends the call from outside its handler (a revoked token).
    public let termination: CallTermination
    /// The id the call is logged under; the client gets it in the `x-request-id` trailer.
    public let requestID: String
    /// The W3C trace id of the caller's `traceparent`, when it sent one.
    public let traceID: String?
    /// Fields for the call's log line that interceptors and handlers add (token id, import id).
    public let logFields: CallLogFields
    /// Set when the handler parks the call (`RPCWriter.park`).
    let parking = ParkingSlot()

    public init(method: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.response = ResponseMetadata()
        self.termination = CallTermination()
        self.requestID = RequestID.make()
        self.traceID = metadata.first("traceparent").flatMap(RequestID.traceID)
        self.logFields = CallLogFields()
    }

    /// Adds response headers; they are sent with the first response message (or
    /// with the status, when there is none).
    public func addInitialMetadata(_ metadata: Metadata) {
        response.state.withLock { $0.initial.merge(metadata) }
    }

    /// Adds metadata to the trailers sent with the status.
    public func addTrailingMetadata(_ metadata: Metadata) {
        response.state.withLock { $0.trailing.merge(metadata) }
    }

    /// The time left before the deadline, if there is one.
    public var timeRemaining: Duration? {
        deadline.map { $0 - ContinuousClock.now }
    }
}

/// Lets code outside a call's handler end the call with a status of its
/// choosing: the handler is cancelled, and the call ends with `error` instead
/// of CANCELLED.
public final class CallTermination: Sendable {
    private let state = Mutex<(error: RPCError?, cancel: (@Sendable () -> Void)?)>((nil, nil))

    init() {}

    /// The error the call was terminated with, if it was.
    public var error: RPCError? { state.withLock { $0.error } }

    /// Ends the call with `error` (the first one wins).
    public func terminate(_ error: RPCError) {
        let cancel = state.withLock { state -> (@Sendable () -> Void)? in
            guard state.error == nil else { return nil }
            state.error = error
            return state.cancel
        }
        cancel?()
    }

    /// How to cancel the handler (set by the router).
    func onTerminate(_ cancel: @escaping @Sendable () -> Void) {
        let already = state.withLock { state -> Bool in
            state.cancel = cancel
            return state.error != nil
        }
        if already { cancel() }
    }
}

final class ResponseMetadata: Sendable {
    struct State {
        var initial = Metadata()
        var trailing = Metadata()
    }

    let state = Mutex(State())

    var initial: Metadata { state.withLock { $0.initial } }
    var trailing: Metadata { state.withLock { $0.trailing } }
}

/// Fields a call's log line carries besides method, status and timing: set by
/// whoever knows them (the authenticator: the token id; a handler: the import).
public final class CallLogFields: Sendable {
    private let fields = Mutex<[(key: String, value: String)]>([])
    /// Message bytes received and sent (as serialized, before framing and compression).
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)

    init() {}

    func received(_ count: Int) { bytesIn.wrappingAdd(count, ordering: .relaxed) }
    func sent(_ count: Int) { bytesOut.wrappingAdd(count, ordering: .relaxed) }

    public func set(_ key: String, _ value: String) {
        fields.withLock { fields in
            if let index = fields.firstIndex(where: { $0.key == key }) {
                fields[index].value = value
            } else {
                fields.append((key, value))
            }
        }
    }

    public var all: [(key: String, value: String)] { fields.withLock { $0 } }
}

/// Request ids and W3C trace context.
public enum RequestID {
    /// "r-" and 16 hex digits, unpredictable and unique within the process:
    /// a counter from a random start, scrambled by a bijection (SplitMix64's
    /// finalizer). Not read from the system's random source per call: on Linux
    /// that is a `getrandom` system call, which one call in a busy server
    /// cannot afford.
    public static func make() -> String {
        var z = start &+ counter.wrappingAdd(1, ordering: .relaxed).newValue &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return String(unsafeUninitializedCapacity: 18) { buffer in
            buffer[0] = UInt8(ascii: "r")
            buffer[1] = UInt8(ascii: "-")
            for i in 0..<16 {
                let digit = UInt8(truncatingIfNeeded: z >> UInt64(60 - 4 * i)) & 0xF
                buffer[2 + i] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
            }
            return 18
        }
    }

    /// "r-" and 16 hex digits from the system's random source: for ids that
    /// must not be guessed from others (an upload session's).
    public static func makeUnguessable() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next() as UInt64, radix: 16)
        return "r-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    private static let start: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()
    private static let counter = Atomic<UInt64>(0)

    /// The trace id of a `traceparent` header (version-traceid-parentid-flags), if well formed.
    public static func traceID(_ traceparent: String) -> String? {
        let parts = traceparent.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32, parts[2].count == 16,
            parts[1].allSatisfy(\.isHexDigit), parts[1] != String(repeating: "0", count: 32)
        else { return nil }
        return String(parts[1]).lowercased()
    }
}

/// A call that ended, for the server's log and metrics.
public struct FinishedCall: Sendable {
    /// `/package.Service/Method`.
    public var path: String
    public var code: Status.Code
    public var duration: Duration
    public var peer: String
    public var requestID: String
    public var traceID: String?
    public var fields: [(key: String, value: String)]
    /// Message bytes received and sent.
    public var bytesIn = 0
    public var bytesOut = 0
    /// False for a path no handler serves (the client chose it: metrics must
    /// not take it as a label).
    public var implemented = true
}
