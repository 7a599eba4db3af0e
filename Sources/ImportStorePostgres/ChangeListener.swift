import Dispatch
import PostgresDB
import Synchronization

/// One connection that LISTENs for the other replicas' import changes and hands
/// their ids to subscribers (the importer, which reads the row and publishes it
/// to this replica's watchers). Its own notifications are skipped: this
/// replica published those already. Started by the first subscriber.
///
/// A lost connection is reopened (after a second, then up to 10 s apart); what
/// was missed meanwhile is unknowable, so every import not yet finished is
/// announced once the connection is back.
final class ChangeListener: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Int64>.Continuation] = [:]
        var nextID = 0
        var started = false
    }

    private let conninfo: String
    private let channel: String
    private let replica: String
    private let state = Mutex(State())
    private let stopped = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "pg-listen")

    /// Ids a subscriber has not taken yet, at most (older ones are dropped;
    /// a watcher then sees the next change).
    static let bufferLimit = 10_000

    init(conninfo: String, channel: String, replica: String) {
        self.conninfo = conninfo
        self.channel = channel
        self.replica = replica
    }

    func subscribe() -> AsyncStream<Int64> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int64.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let (id, start) = state.withLock { state -> (Int, Bool) in
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            defer { state.started = true }
            return (state.nextID, !state.started)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        if start { queue.async { self.loop() } }
        return stream
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        let subscribers = state.withLock { state in
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func deliver(_ ids: some Sequence<Int64>) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for id in ids {
            for subscriber in subscribers { subscriber.yield(id) }
        }
    }

    private func loop() {
        var backoff = 1.0
        var connectedBefore = false
        while !stopped.load(ordering: .relaxed) {
            do {
                let connection = try PGConnection(conninfo)
                try connection.listen(channel)
                if connectedBefore {
                    let r = try connection.execute("SELECT id FROM imports WHERE state IN (1, 2, 3) ORDER BY id")
                    deliver((0..<r.count).compactMap { r.int($0, 0) })
                }
                connectedBefore = true
                backoff = 1
                while !stopped.load(ordering: .relaxed) {
                    let received = try connection.notifications(waitingUpTo: .milliseconds(250))
                    guard connection.isHealthy else { break }
                    var ids: [Int64] = []
                    var seen = Set<Int64>()
                    for notification in received {
                        let parts = notification.payload.split(separator: " ")
                        guard parts.count == 2, parts[0] != replica, let id = Int64(parts[1]), seen.insert(id).inserted else { continue }
                        ids.append(id)
                    }
                    if !ids.isEmpty { deliver(ids) }
                }
            } catch {
                // Reconnect below.
            }
            var waited = 0.0
            while waited < backoff && !stopped.load(ordering: .relaxed) {
                usleep(100_000)
                waited += 0.1
            }
            backoff = min(backoff * 2, 10)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
