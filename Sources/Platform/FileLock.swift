#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock (`flock`) on a file, held until the process
/// exits: the kernel releases it however the process ends, kill -9 included.
/// The file holds the holder's pid, for the message of whoever is refused.
public final class FileLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Takes the lock, or throws `FileLock.Held` with the holder's pid.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd < 0 { throw FileError("cannot open", path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            if code == EWOULDBLOCK {
                let text = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
                throw Held(path: path, pid: Int32(text.split(separator: "\n").first ?? ""))
            }
            throw FileError("cannot lock", path, code)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// Another process holds the lock.
    public struct Held: Error, Sendable {
        public let path: String
        public let pid: Int32?
    }
}

/// A file whose identity changes each time `touch` is called, so that another
/// process notices a change with one `stat` (no read, no database query).
public struct ChangeStamp: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Replaces the file (a new inode and modification time each time).
    public func touch() throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        try FileSystem.writeFile(path, contents: "\(now.tv_sec).\(now.tv_nsec)\n", mode: 0o600)
    }

    /// Identifies the file's current version; 0 when it does not exist.
    public func current() -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return UInt64(truncatingIfNeeded: info.st_ino) &* 1_000_000_007 &+ UInt64(truncatingIfNeeded: info.st_mtim.tv_sec) &* 1_000_000_000
            &+ UInt64(truncatingIfNeeded: info.st_mtim.tv_nsec)
    }
}
