import Foundation

/// A real PostgreSQL 15 for the tests: `initdb` into a temporary directory, a
/// server on a Unix socket in that directory (no TCP port at all), stopped when
/// the test process exits. PostgreSQL refuses to run as root, so as root it runs
/// as the `postgres` user Debian's package creates (`runuser -u postgres`).
public final class PostgresCluster: @unchecked Sendable {
    // @unchecked: every stored property is set in `init` and never changes.

    /// One cluster for the whole test process.
    public static let shared: Result<PostgresCluster, ClusterError> = {
        do {
            let cluster = try PostgresCluster()
            current = cluster
            atexit { PostgresCluster.current?.stop() }
            return .success(cluster)
        } catch let error as ClusterError {
            return .failure(error)
        } catch {
            return .failure(ClusterError(message: "\(error)"))
        }
    }()
    nonisolated(unsafe) private static var current: PostgresCluster?

    /// Where blocking set-up work runs (initdb, createdb, connecting and
    /// migrating): never on Swift's cooperative threads, which every other
    /// test shares. Two of them (on two cores) blocked for the seconds initdb
    /// takes would stall the whole test run.
    private static let setupQueue = DispatchQueue(label: "postgres-test-setup")

    /// Runs blocking set-up work off the cooperative pool and waits for it.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            setupQueue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The shared cluster, started (once) off the cooperative pool.
    public static func start() async throws -> PostgresCluster {
        try await offPool { try shared.get() }
    }

    /// A new empty database, made off the cooperative pool.
    public func makeDatabase(_ name: String) async throws {
        try await Self.offPool { try self.createDatabase(name) }
    }

    public struct ClusterError: Error, CustomStringConvertible {
        let message: String
        public var description: String { message }
    }

    public let directory: String
    public let socketDirectory: String
    public let port = 5432
    private let binaries: String
    private let asUser: String?

    /// A libpq connection string for database `name`.
    public func conninfo(database name: String = "postgres") -> String {
        "host=\(socketDirectory) port=\(port) user=postgres dbname=\(name) connect_timeout=10"
    }

    private init() throws {
        guard let binaries = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") })
        else {
            throw ClusterError(message: "PostgreSQL's server is not installed (Debian: postgresql-15); scripts/install-deps.sh --test installs it")
        }
        self.binaries = binaries
        asUser = geteuid() == 0 ? "postgres" : nil
        var template = Array("/tmp/importd-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClusterError(message: "cannot make a temporary directory") }
        directory = String(cString: made)
        socketDirectory = directory + "/run"
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if let asUser {
            try run("/bin/chown", ["-R", asUser + ":", directory])
        }
        try run(binaries + "/initdb", ["-D", directory + "/data", "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        let options = "-c listen_addresses='' -k \(socketDirectory) -p \(port) -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            + " -c max_connections=300 -c shared_buffers=32MB"
        try run(binaries + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    public func stop() {
        _ = try? run(binaries + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new empty database (each test its own).
    public func createDatabase(_ name: String) throws {
        try run(binaries + "/createdb", ["-h", socketDirectory, "-p", String(port), "-U", "postgres", name])
    }

    /// Runs a command to its end (posix_spawn and waitpid: no run loop, no
    /// pipes a server it starts could keep open), its output in a file.
    @discardableResult
    private func run(_ executable: String, _ arguments: [String]) throws -> String {
        var argv = [executable] + arguments
        var path = executable
        if let asUser, executable != "/bin/chown" {
            path = "/usr/sbin/runuser"
            argv = [path, "-u", asUser, "--"] + argv
        }
        let outputPath = directory + "/command-\(UInt32.random(in: 0...UInt32.max)).out"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: the server outlives the command, and an inherited
        // pipe end (another test's child's stdin) would never close. glibc
        // ignores a close action on a descriptor that is not open.
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        for fd in Set(open + Array(3..<64)) where fd >= 3 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw ClusterError(message: "cannot run \(path): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        unlink(outputPath)
        // Exited normally with 0 (WIFEXITED and WEXITSTATUS, by hand: they are macros).
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw ClusterError(message: "\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }
}
