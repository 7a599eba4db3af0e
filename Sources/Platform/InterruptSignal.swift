import CPlatform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Signals as events: a C handler writes the signal's number to a pipe and a
/// thread of ours reads it and runs the Swift side, so a signal works the same
/// whichever thread it lands on and is never lost to a disposition set to
/// ignore it (dispatch signal sources, installed and cancelled per command,
/// lost signals that way).
public enum SignalEvents {
    private static let actions = Mutex<[Int32: @Sendable (Int32) -> Void]>([:])
    private static let pipe = Mutex<Int32?>(nil)

    /// Runs `action` (on a thread of ours) each time `signal` arrives, from now on.
    public static func on(_ signal: Int32, _ action: @escaping @Sendable (Int32) -> Void) {
        actions.withLock { $0[signal] = action }
        guard let fd = writeEnd() else { return }
        _ = cplatform_signal_to_pipe(signal, fd)
    }

    /// The pipe's write end, made (with its reading thread) on first use.
    private static func writeEnd() -> Int32? {
        pipe.withLock { existing -> Int32? in
            if let existing { return existing }
            var fds: [Int32] = [0, 0]
            guard Glibc.pipe(&fds) == 0 else { return nil }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { raw in
                let fd = Int32(Int(bitPattern: raw))
                var byte: UInt8 = 0
                while true {
                    let n = read(fd, &byte, 1)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return nil }
                    let signal = Int32(byte)
                    if let action = SignalEvents.actions.withLock({ $0[signal] }) { action(signal) }
                }
            }, UnsafeMutableRawPointer(bitPattern: Int(fds[0])))
            guard started == 0 else { return nil }
            pthread_detach(thread)
            existing = fds[1]
            return fds[1]
        }
    }
}

/// Ctrl-C for a command-line program: while a handler is set, SIGINT runs it
/// (once); with none set, SIGINT ends the process with status 130, as by default.
public enum InterruptSignal {
    private static let handler = Mutex<(@Sendable () -> Void)?>(nil)
    private static let installed = Mutex(false)

    /// Runs `action` on the next Ctrl-C, instead of exiting, until `clear`.
    public static func set(_ action: @escaping @Sendable () -> Void) {
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        if first {
            SignalEvents.on(SIGINT) { _ in
                let action = InterruptSignal.handler.withLock { current in
                    defer { current = nil }
                    return current
                }
                if let action { action() } else { _exit(130) }
            }
        }
        handler.withLock { $0 = action }
    }

    /// Back to the default: Ctrl-C exits with 130.
    public static func clear() {
        handler.withLock { $0 = nil }
    }
}

/// SIGTERM or SIGINT, awaited: for a server's graceful stop. Install it before
/// the server says it is ready, so a signal that comes at once is not lost.
public final class TerminationSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {
        signal(SIGPIPE, SIG_IGN)
        for signo in [SIGTERM, SIGINT] {
            SignalEvents.on(signo) { [weak self] _ in self?.fire() }
        }
    }

    private func fire() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    /// Returns once SIGTERM or SIGINT has arrived (at once if one has).
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiter = continuation
                return false
            }
            if fired { continuation.resume() }
        }
    }
}
