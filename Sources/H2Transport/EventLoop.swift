import CLibevent
import DequeModule
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libevent loop on its own thread. It owns every bufferevent and nghttp2
/// session created on it: they are touched only on this thread.
///
/// Work from other threads enters through one locked queue and a user event; the
/// loop runs queued work between I/O callbacks, never inside an nghttp2 callback.
/// As a `TaskExecutor` it runs handler tasks on the loop thread, where they reach
/// their call's state without a thread hop.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    private enum Job {
        case closure(@Sendable () -> Void)
        case task(UnownedJob)
        /// A message offered to a stream (`H2Stream.offerMessage`): no closure
        /// to allocate, for broadcasts to thousands of streams.
        case offer(H2Stream, [UInt8])
    }

    private struct Queue {
        var jobs = Deque<Job>()
        var wakeupPending = false
        var stopped = false
    }

    let base: OpaquePointer
    public let name: String
    private let queue = Mutex(Queue())
    private var wakeup: OpaquePointer!
    private var thread = pthread_t()
    private let threadReady = Atomic<Bool>(false)
    /// Written by the loop thread before `init` returns, never again.
    nonisolated(unsafe) private var loopThread = pthread_t()
    private var threadStarted = false
    // Loop thread only.
    private var running = Deque<Job>()
    private var dirtyConnections: [H2Connection] = []
    /// Where connections of this loop read their sockets directly
    /// (`H2Connection.readMore`); loop thread only, one read at a time.
    let readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)

    private static let threadingEnabled: Bool = {
        evthread_use_pthreads() == 0
    }()

    /// Creates the loop and starts its thread.
    public init(name: String) {
        precondition(Self.threadingEnabled, "libevent pthreads support is unavailable")
        self.name = name
        let config = event_config_new()!
        // Check for I/O after at most 64 callbacks, so a burst of queued work
        // never starves the sockets.
        event_config_set_max_dispatch_interval(config, nil, 64, 0)
        base = event_base_new_with_config(config)!
        event_config_free(config)
        wakeup = event_new(base, -1, 0, { _, _, context in
            Unmanaged<EventLoop>.fromOpaque(context!).takeUnretainedValue().drain()
        }, Unmanaged.passUnretained(self).toOpaque())
        startThread()
    }

    deinit {
        event_free(wakeup)
        event_base_free(base)
        readScratch.deallocate()
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
            loop.loopThread = pthread_self()
            loop.threadReady.store(true, ordering: .releasing)
            loop.run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
        threadStarted = true
        // Wait until the thread knows itself, so `inEventLoop` is right at once.
        while !threadReady.load(ordering: .acquiring) { sched_yield() }
    }

    private func run() {
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY)
        // Run what was queued before the stop, so no continuation is left hanging.
        drain()
    }

    /// True on the loop's own thread.
    public var inEventLoop: Bool {
        pthread_equal(pthread_self(), loopThread) != 0
    }

    /// Runs `body` on the loop thread, after what is queued already.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        push(.closure(body))
    }

    /// Queues `framed` on `stream`, on the loop thread: at once when called
    /// there (a broadcast run on the loop that owns the stream), else after
    /// what is queued already.
    func offer(_ framed: [UInt8], to stream: H2Stream) {
        if inEventLoop {
            stream.takeOffered(framed)
        } else {
            push(.offer(stream, framed))
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        push(.task(UnownedJob(job)))
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    private func push(_ job: Job) {
        let activate = queue.withLock { queue -> Bool in
            queue.jobs.append(job)
            if queue.wakeupPending || queue.stopped { return false }
            queue.wakeupPending = true
            return true
        }
        if activate {
            event_active(wakeup, EV_READ, 0)
        }
    }

    private func drain() {
        queue.withLock { queue in
            swap(&queue.jobs, &running)
            queue.wakeupPending = false
        }
        let executor = asUnownedTaskExecutor()
        while let job = running.popFirst() {
            switch job {
            case .closure(let body): body()
            case .task(let task): task.runSynchronously(on: executor)
            case .offer(let stream, let framed): stream.takeOffered(framed)
            }
        }
        flushDirtyConnections()
    }

    /// Asks for `connection.flush()` at the end of this round of queued work.
    func markDirty(_ connection: H2Connection) {
        if connection.isDirty { return }
        connection.isDirty = true
        dirtyConnections.append(connection)
        if dirtyConnections.count == 1 {
            // Make sure a drain follows, even when called from an I/O callback.
            let activate = queue.withLock { queue -> Bool in
                if queue.wakeupPending || queue.stopped { return false }
                queue.wakeupPending = true
                return true
            }
            if activate {
                event_active(wakeup, EV_READ, 0)
            }
        }
    }

    private func flushDirtyConnections() {
        while !dirtyConnections.isEmpty {
            let connections = dirtyConnections
            dirtyConnections.removeAll(keepingCapacity: true)
            for connection in connections {
                connection.isDirty = false
                connection.flush()
            }
        }
    }

    /// Stops the loop after the work queued so far, and waits for its thread.
    public func shutdown() {
        precondition(!inEventLoop, "EventLoop.shutdown() called on the loop itself")
        let alreadyStopped = queue.withLock { queue -> Bool in
            defer { queue.stopped = true }
            return queue.stopped
        }
        if alreadyStopped { return }
        event_base_loopexit(base, nil)
        if threadStarted {
            pthread_join(thread, nil)
        }
    }
}

/// A one-shot timer on a loop. Loop thread only.
final class LoopTimer {
    private var event: OpaquePointer!
    private var action: (() -> Void)?

    init(loop: EventLoop) {
        event = event_new(loop.base, -1, 0, { _, _, context in
            let timer = Unmanaged<LoopTimer>.fromOpaque(context!).takeUnretainedValue()
            timer.action?()
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        event_free(event)
    }

    /// Runs `action` once after `delay`; replaces an earlier schedule.
    func schedule(after delay: Duration, _ action: @escaping () -> Void) {
        self.action = action
        let (seconds, attoseconds) = delay.components
        var tv = timeval(tv_sec: max(0, Int(seconds)), tv_usec: max(0, Int(attoseconds / 1_000_000_000_000)))
        event_add(event, &tv)
    }

    func cancel() {
        event_del(event)
        action = nil
    }
}
