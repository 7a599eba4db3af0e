import CPlatform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C for a command-line program: while a handler is set, SIGINT runs it
/// (once); with none set, SIGINT ends the process with status 130, as by default.
///
/// A C handler writes a byte to a pipe and a thread of ours reads it, so SIGINT
/// works the same whichever thread it lands on and however often handlers come
/// and go (dispatch signal sources, installed and cancelled per command, lost
/// signals once the disposition had been set to ignore them).
public enum InterruptSignal {
    private static let handler = Mutex<(@Sendable () -> Void)?>(nil)
    private static let installed = Mutex(false)

    /// Runs `action` on the next Ctrl-C, instead of exiting, until `clear`.
    public static func set(_ action: @escaping @Sendable () -> Void) {
        install()
        handler.withLock { $0 = action }
    }

    /// Back to the default: Ctrl-C exits with 130.
    public static func clear() {
        handler.withLock { $0 = nil }
    }

    private static func install() {
        let first = installed.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let reader = fds[0]
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            let fd = Int32(Int(bitPattern: raw))
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return nil }
                let action = InterruptSignal.handler.withLock { current in
                    defer { current = nil }
                    return current
                }
                if let action { action() } else { _exit(130) }
            }
        }, UnsafeMutableRawPointer(bitPattern: Int(reader)))
        guard started == 0 else { return }
        pthread_detach(thread)
        _ = cplatform_sigint_to_pipe(fds[1])
    }
}
