import Dispatch
import Synchronization

/// A few connections to one database, each used by one caller at a time on its
/// own serial queue: libpq blocks while the server works, so calls never run on
/// Swift's cooperative threads. A caller that finds every connection busy
/// waits, first come first served. A connection the server dropped (a restart,
/// a failover) is reconnected before its next use.
public final class PGPool: Sendable {
    private final class Slot: @unchecked Sendable {
        // @unchecked: `connection` is touched only on `queue`, by the one caller
        // the pool lent the slot to.
        let queue: DispatchQueue
        var connection: PGConnection?

        init(index: Int) {
            queue = DispatchQueue(label: "pg-\(index)", qos: .userInitiated)
        }
    }

    private struct State {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    public let conninfo: String
    private let slots: [Slot]
    private let state: Mutex<State>
    private let setup: @Sendable (PGConnection) throws -> Void

    /// `size` connections at most, opened on first use; `setup` runs on each new one.
    public init(_ conninfo: String, size: Int, setup: @escaping @Sendable (PGConnection) throws -> Void = { _ in }) {
        precondition(size > 0)
        self.conninfo = conninfo
        self.slots = (0..<size).map { Slot(index: $0) }
        self.state = Mutex(State(free: Array((0..<size).reversed())))
        self.setup = setup
    }

    /// Runs `body` with a connection of the pool, on that connection's queue.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        let index = await acquire()
        defer { release(index) }
        let slot = slots[index]
        let conninfo = self.conninfo
        let setup = self.setup
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                continuation.resume(with: Result {
                    if let connection = slot.connection, !connection.isHealthy { slot.connection = nil }
                    let connection: PGConnection
                    if let open = slot.connection {
                        connection = open
                    } else {
                        connection = try PGConnection(conninfo)
                        try setup(connection)
                        slot.connection = connection
                    }
                    do {
                        return try body(connection)
                    } catch {
                        // A broken connection is dropped; the next caller opens another.
                        if !connection.isHealthy { slot.connection = nil }
                        throw error
                    }
                })
            }
        }
    }

    /// Closes every connection (a later call opens them again).
    public func close() {
        for slot in slots {
            slot.queue.sync { slot.connection = nil }
        }
    }

    private func acquire() async -> Int {
        if let index = state.withLock({ $0.free.popLast() }) { return index }
        return await withCheckedContinuation { continuation in
            let index = state.withLock { state -> Int? in
                if let index = state.free.popLast() { return index }
                state.waiters.append(continuation)
                return nil
            }
            if let index { continuation.resume(returning: index) }
        }
    }

    private func release(_ index: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Int, Never>? in
            if state.waiters.isEmpty {
                state.free.append(index)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: index)
    }
}
