import H2Transport
import ProtoMessages
import RPCCore
import Synchronization
import Testing

/// Server-streaming calls that outlive their handler's task (`RPCWriter.park`):
/// fed by offers from outside, woken into a task for what offers cannot do,
/// ended by that task or by the client.
@Suite struct ParkedCallTests {
    static let parked = MethodDescriptor(service: "t.Parked", method: "Feed", kind: .serverStreaming)

    /// What the test drives from outside the handler.
    final class Feed: Sendable {
        struct State {
            var writer: RPCWriter<RPCTestV1.Chunk>?
            var call: ParkedCall?
            var pending: [RPCTestV1.Chunk] = []
            var ended = 0
            /// The parked call's context (one of the objects it holds), weakly.
            weak var context: CallTermination?
        }

        let state = Mutex(State())

        var call: ParkedCall? { state.withLock { $0.call } }
        var ended: Int { state.withLock { $0.ended } }

        /// Offers a chunk; when the stream will not take it now, it waits for
        /// the task `wake` starts.
        func offer(_ chunk: RPCTestV1.Chunk) {
            guard let (writer, call) = state.withLock({ s in s.writer.map { ($0, s.call!) } }) else { return }
            if !writer.offer(FramedMessage(chunk)) {
                state.withLock { $0.pending.append(chunk) }
                call.resume(catchUp)
            }
        }

        /// Writes what waits; ends the call (true) after a chunk with index 99.
        var catchUp: @Sendable () async throws -> Bool {
            { [self] in
                while let next = state.withLock({ $0.pending.isEmpty ? nil : $0.pending.removeFirst() }) {
                    try await state.withLock { $0.writer! }.write(next)
                    if next.index == 99 { return true }
                }
                return false
            }
        }
    }

    static func routes(_ feed: Feed, tasks: Counter) -> (inout RPCRouter) -> Void {
        { router in
            router.registerServerStreaming(parked, RPCTestV1.GenerateRequest.self, RPCTestV1.Chunk.self) { _, writer, context in
                tasks.increment()
                feed.state.withLock { $0.context = context.termination }
                try await writer.write(chunk([0], index: 0))
                let call = try #require(writer.park(), "the HTTP/2 transport parks calls")
                call.onEnd { feed.state.withLock { $0.ended += 1 } }
                feed.state.withLock {
                    $0.writer = writer
                    $0.call = call
                }
            }
        }
    }

    @Test func aParkedStreamIsFedFromOutsideAndEndedByItsTask() async throws {
        let feed = Feed()
        let tasks = Counter()
        try await TestHarness.with(routes: Self.routes(feed, tasks: tasks)) { h in
            let indexes: [UInt64] = try await h.rpc.serverStreaming(
                Self.parked, request: RPCTestV1.GenerateRequest()
            ) { (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                var seen: [UInt64] = []
                for try await response in responses {
                    seen.append(response.index)
                    if response.index == 0 {
                        // The handler has returned by now, or soon: feed it from here.
                        #expect(await eventually { feed.call != nil })
                        for i in 1...5 { feed.offer(chunk([1], index: UInt64(i))) }
                        // The last one always goes through a task (as a watch's terminal snapshot).
                        feed.state.withLock { $0.pending.append(chunk([1], index: 99)) }
                        feed.call?.resume(feed.catchUp)
                    }
                }
                return seen
            }
            #expect(indexes == [0, 1, 2, 3, 4, 5, 99], "in order, then OK")
            #expect(tasks.current == 1)
            #expect(await eventually { feed.ended == 1 })
            // Once its feeder lets go, nothing keeps the ended call's context.
            feed.state.withLock {
                $0.writer = nil
                $0.call = nil
            }
            #expect(await eventually { feed.state.withLock { $0.context == nil } }, "an ended parked call frees its context")
        }
    }

    @Test func aClientThatLeavesEndsAParkedCall() async throws {
        let feed = Feed()
        let tasks = Counter()
        try await TestHarness.with(routes: Self.routes(feed, tasks: tasks)) { h in
            let first: UInt64? = try await h.rpc.serverStreaming(
                Self.parked, request: RPCTestV1.GenerateRequest()
            ) { (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                for try await response in responses { return response.index }
                return nil
            }
            #expect(first == 0)
            // Leaving the stream resets it: the parked call ends, with no task of its own.
            #expect(await eventually { feed.ended == 1 })
            // Offers after the end are refused, and a resume does nothing.
            feed.offer(chunk([1], index: 1))
            #expect(feed.ended == 1)
        }
    }
}

/// `ParkedCall` as a value: one task at a time, wakes never lost, one end.
@Suite struct ParkedCallStateTests {
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    @Test func aWakeWhileTheTaskRunsMakesItGoRoundAgainThenItParks() async throws {
        let log = Log()
        let call = ParkedCall.forTesting { error in log.add(error == nil ? "end ok" : "end \(type(of: error!))") }
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let rounds = Counter()
        let body: @Sendable () async throws -> Bool = {
            rounds.increment()
            if rounds.current == 1 {
                await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } }
            }
            return false
        }
        call.resume(body)
        #expect(await eventually { gate.withLock { $0 != nil } })
        call.resume(body)  // while the first round runs: remembered, not a second task
        gate.withLock { $0?.resume() }
        #expect(await eventually { rounds.current == 2 })
        // Parked again: a later wake starts a new round.
        try await Task.sleep(for: .milliseconds(20))
        call.resume(body)
        #expect(await eventually { rounds.current == 3 })
        #expect(log.all.isEmpty, "parking again never ends the call")
    }

    @Test func theTransportEndingAParkedCallEndsItOnceAndRunsOnEnd() async throws {
        let log = Log()
        let call = ParkedCall.forTesting { error in log.add(error is CancellationError ? "cancelled" : "other") }
        call.onEnd { log.add("on end") }
        call.terminatedForTesting()
        #expect(await eventually { log.all == ["on end", "cancelled"] })
        call.terminatedForTesting()
        call.resume { true }
        call.onEnd { log.add("late on end") }
        #expect(log.all == ["on end", "cancelled", "late on end"], "ended once; a late onEnd runs at once")
    }
}
