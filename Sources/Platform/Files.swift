#if canImport(Glibc)
import Glibc
#endif

/// A failed file operation, with the path and the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let operation: String
    public let errno: Int32

    init(_ operation: String, _ path: String, _ code: Int32 = Glibc.errno) {
        self.operation = operation
        self.path = path
        self.errno = code
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno)))"
    }

    /// The disk (or the user's quota) is full.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }
}

/// Writes a new file durably: into a temporary name, then `fsync`, rename and
/// `fsync` of the directory, so the file is either wholly there or not at all.
public final class DurableFileWriter {
    public let directory: String
    public let temporaryPath: String
    private var fd: Int32
    public private(set) var bytesWritten: Int64 = 0

    /// Creates `directory/.name.partial` (mode 0600).
    public init(directory: String, name: String) throws {
        self.directory = directory
        self.temporaryPath = directory + "/." + name + ".partial"
        // A new file of our own: not one left behind, never through a symbolic link.
        unlink(temporaryPath)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 { throw FileError("cannot create", temporaryPath) }
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError("cannot write", temporaryPath)
                }
                offset += n
            }
        }
        bytesWritten += Int64(bytes.count)
    }

    /// Makes the file durable under `finalName` in the same directory.
    public func commit(as finalName: String) throws {
        guard fd >= 0 else { throw FileError("already closed", temporaryPath, EBADF) }
        if fsync(fd) != 0 { throw FileError("cannot fsync", temporaryPath) }
        close(fd)
        fd = -1
        let finalPath = directory + "/" + finalName
        if rename(temporaryPath, finalPath) != 0 {
            let code = errno
            unlink(temporaryPath)
            throw FileError("cannot rename to", finalPath, code)
        }
        try FileSystem.syncDirectory(directory)
    }

    /// Removes the temporary file.
    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(temporaryPath)
        }
    }
}

/// Reads a file front to back, or from an offset, in chunks.
public final class FileReader {
    public let path: String
    private let fd: Int32
    private var position: Int64

    public init(path: String, offset: Int64 = 0) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileError("cannot open", path) }
        position = offset
    }

    deinit {
        close(fd)
    }

    /// Appends up to `maxCount` bytes to `buffer`; 0 at the end of the file.
    public func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        guard maxCount > 0 else { return 0 }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: maxCount))
        var n = 0
        buffer.withUnsafeMutableBytes { raw in
            repeat {
                n = pread(fd, raw.baseAddress! + start, maxCount, off_t(position))
            } while n < 0 && errno == EINTR
        }
        if n < 0 {
            buffer.removeLast(maxCount)
            throw FileError("cannot read", path)
        }
        buffer.removeLast(maxCount - n)
        position += Int64(n)
        return n
    }
}

/// Small file-system operations.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func size(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    public static func createDirectory(_ path: String, mode: mode_t = 0o700) throws {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, mode) != 0 && errno != EEXIST {
                throw FileError("cannot create directory", partial)
            }
        }
    }

    /// Names in `path`, without `.` and `..`.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileError("cannot list", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// A small file's bytes, whole (at most `limit`; longer is an error).
    public static func readAll(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
        let reader = try FileReader(path: path)
        var bytes: [UInt8] = []
        while try reader.read(into: &bytes, maxCount: 64 << 10) > 0 {
            if bytes.count > limit { throw FileError("too large to read whole", path, EFBIG) }
        }
        return bytes
    }

    /// The permission bits of `path` (following links), nil when it does not exist.
    public static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// Bytes free for an unprivileged writer on the file system of `path`.
    public static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Bytes of the regular files directly in `path`.
    public static func directoryBytes(_ path: String) -> Int64 {
        (try? list(path))?.reduce(0) { $0 + (size(path + "/" + $1) ?? 0) } ?? 0
    }

    public static func remove(_ path: String) {
        unlink(path)
    }

    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileError("cannot open directory", path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileError("cannot fsync directory", path) }
    }

    /// Writes a small file atomically with the given permissions (0600 for secrets).
    public static func writeFile(_ path: String, contents: String, mode: mode_t = 0o600) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let writer = try DurableFileWriter(directory: directory, name: name)
        try writer.write(Array(contents.utf8))
        chmod(writer.temporaryPath, mode)
        try writer.commit(as: name)
    }

    /// Copies a file of any size, 1 MiB at a time, durably (fsync, then an
    /// atomic rename into place); the copy is owner-only.
    public static func copyFile(from source: String, to target: String) throws {
        let slash = target.lastIndex(of: "/")
        let directory = slash.map { String(target[..<$0]) } ?? "."
        let name = slash.map { String(target[target.index(after: $0)...]) } ?? target
        let reader = try FileReader(path: source)
        let writer = try DurableFileWriter(directory: directory, name: name)
        var buffer: [UInt8] = []
        do {
            while true {
                buffer.removeAll(keepingCapacity: true)
                guard try reader.read(into: &buffer, maxCount: 1 << 20) > 0 else { break }
                try writer.write(buffer)
            }
            try writer.commit(as: name)
        } catch {
            writer.abort()
            throw error
        }
    }
}

/// A file for data spilled from memory: it has no name (unlinked as soon as it
/// is created), so nothing is left behind whatever happens to the process, and
/// its space is freed when it is closed. Written at its end, read anywhere.
public final class ScratchFile {
    private let fd: Int32
    private let directory: String
    public private(set) var size: Int64 = 0

    /// Creates an empty scratch file in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        let path = directory + "/.scratch-\(getpid())-\(UInt64.random(in: 0 ... .max))"
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 { throw FileError("cannot create", path) }
        unlink(path)
    }

    deinit {
        close(fd)
    }

    /// Appends `bytes` at the end of the file.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(size + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot write a scratch file in", directory)
            }
            done += n
        }
        size += Int64(bytes.count)
    }

    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Fills `buffer` from `offset`; reading past the end is an error.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot read a scratch file in", directory)
            }
            if n == 0 { throw FileError("cannot read past the end of a scratch file in", directory, EIO) }
            done += n
        }
    }
}
