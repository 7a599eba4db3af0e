import Dispatch

/// A connection confined to a serial dispatch queue: the only way to reach it is
/// `run`, which executes a closure with it there (like GRDB's `dbQueue.write`).
public final class DatabaseQueue: @unchecked Sendable {
    private let queue: DispatchQueue
    // Touched only on `queue`.
    private let connection: Connection

    /// Opens `path` and configures the connection on its own queue.
    public init(path: String, label: String, readOnly: Bool = false, configure: (Connection) throws -> Void = { _ in }) throws {
        self.queue = DispatchQueue(label: label, qos: .userInitiated)
        self.connection = try Connection(path: path, readOnly: readOnly)
        try configure(connection)
    }

    /// Runs `body` with the connection on the queue.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result = Result { try body(self.connection) }
                self.connection.endReads()
                continuation.resume(with: result)
            }
        }
    }

    /// Runs `body` on the queue and waits (for start-up and command-line tools).
    public func runSync<T>(_ body: (Connection) throws -> T) rethrows -> T {
        try queue.sync {
            defer { connection.endReads() }
            return try body(connection)
        }
    }
}
