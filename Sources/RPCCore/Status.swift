/// The outcome of an RPC: a gRPC status code and a human-readable message.
public struct Status: Sendable, Hashable, CustomStringConvertible {
    public var code: Code
    public var message: String

    public init(code: Code, message: String = "") {
        self.code = code
        self.message = message
    }

    public static let ok = Status(code: .ok)

    /// The longest status message sent (`grpc-message`), in UTF-8 bytes.
    public static let maxMessageBytes = 1024

    /// `message` cut to `maxMessageBytes` at a character boundary, ending in "…"
    /// when cut. Whatever repeats the message (a google.rpc.Status in the
    /// details) must use the same text: clients compare the two.
    public static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxMessageBytes else { return message }
        var cut = ""
        for character in message {
            if cut.utf8.count + character.utf8.count > maxMessageBytes - 3 { break }
            cut.append(character)
        }
        return cut + "…"
    }

    public var description: String {
        message.isEmpty ? code.name : "\(code.name): \(message)"
    }

    /// A gRPC status code (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
    ///
    /// A struct rather than an enum: a peer may send a code this build does not know,
    /// and it must survive the round trip.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int

        public init(rawValue: Int) {
            self.rawValue = rawValue
        }

        public static let ok = Code(rawValue: 0)
        public static let cancelled = Code(rawValue: 1)
        public static let unknown = Code(rawValue: 2)
        public static let invalidArgument = Code(rawValue: 3)
        public static let deadlineExceeded = Code(rawValue: 4)
        public static let notFound = Code(rawValue: 5)
        public static let alreadyExists = Code(rawValue: 6)
        public static let permissionDenied = Code(rawValue: 7)
        public static let resourceExhausted = Code(rawValue: 8)
        public static let failedPrecondition = Code(rawValue: 9)
        public static let aborted = Code(rawValue: 10)
        public static let outOfRange = Code(rawValue: 11)
        public static let unimplemented = Code(rawValue: 12)
        public static let `internal` = Code(rawValue: 13)
        public static let unavailable = Code(rawValue: 14)
        public static let dataLoss = Code(rawValue: 15)
        public static let unauthenticated = Code(rawValue: 16)

        private static let names = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
            "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
            "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
            "UNAUTHENTICATED",
        ]

        /// The canonical upper-case name, e.g. `NOT_FOUND`.
        public var name: String {
            Self.names.indices.contains(rawValue) ? Self.names[rawValue] : "CODE_\(rawValue)"
        }

        public var description: String { name }

        /// The code with this canonical name, if any.
        public init?(name: String) {
            guard let index = Self.names.firstIndex(of: name) else { return nil }
            self.rawValue = index
        }
    }
}
