import ArgumentParser
import ImportClient
import H2Transport
import Platform
import ProtoMessages
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Connection and output options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("importd's address, HOST:PORT (env IMPORTCTL_SERVER).", valueName: "host:port"))
    var server: String?

    @Option(help: ArgumentHelp("API token (env IMPORTCTL_TOKEN); importd writes an admin token to DATA_DIR/admin.token.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Read the token from a file, so it shows in no process list (env IMPORTCTL_TOKEN_FILE).", valueName: "file"))
    var tokenFile: String?

    @Flag(help: "Machine-readable output: one JSON object per item, with the proto field names.")
    var json = false

    @Flag(help: "Connect with TLS (ALPN h2), trusting the system's certificates or --tls-ca.")
    var tls = false

    @Option(help: ArgumentHelp("PEM file of the CA certificates to trust (implies --tls).", valueName: "file"))
    var tlsCA: String?

    @Option(help: ArgumentHelp("Name to verify in the server's certificate (default: the host).", valueName: "name"))
    var tlsServerName: String?

    @Flag(help: "Skip TLS certificate verification (testing only).")
    var tlsInsecure = false

    var serverAddress: String {
        server ?? environment("IMPORTCTL_SERVER") ?? "127.0.0.1:50051"
    }

    var tokenFilePath: String? {
        tokenFile ?? environment("IMPORTCTL_TOKEN_FILE")
    }

    var tokenValue: String? {
        if let token { return token }
        if let path = tokenFilePath, let bytes = try? FileSystem.readAll(path) {
            return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
        return environment("IMPORTCTL_TOKEN")
    }

    func validate() throws {
        guard HostPort(serverAddress) != nil else {
            throw ValidationError("--server must be HOST:PORT, e.g. 127.0.0.1:50051 (got \(serverAddress))")
        }
        if token == nil, let path = tokenFilePath, (try? FileSystem.readAll(path)) == nil {
            throw ValidationError("cannot read the token file \(path)")
        }
    }

    /// Whether `host` is this machine (a token sent there in clear text stays on it).
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// A client of the import service over a new channel.
    func connect(compressing: Bool = false) -> Connection {
        let address = HostPort(serverAddress)!
        var tlsConfiguration: TLSClientConfiguration?
        if tls || tlsCA != nil || tlsInsecure || tlsServerName != nil {
            tlsConfiguration = TLSClientConfiguration(trustRootsFile: tlsCA, insecureSkipVerify: tlsInsecure, serverName: tlsServerName)
        }
        if let tokenValue, !tokenValue.isEmpty, tlsConfiguration == nil, !Self.isLoopback(address.host) {
            Terminal.write(Terminal.standardError,
                "importctl: warning: the token goes to \(address.host) unencrypted (h2c); use --tls unless this network is private\n")
        }
        // The library's defaults: 30 s deadlines, retried reads, long watches
        // pinging a quiet server every 2 minutes (importd permits one a minute).
        var configuration = ImportClient.Configuration()
        configuration.tls = tlsConfiguration
        configuration.connectTimeout = .seconds(5)
        configuration.compression = compressing
        let client = ImportClient(host: address.host, port: address.port, token: tokenValue, configuration: configuration)
        return Connection(client: client, address: serverAddress, hasToken: tokenValue != nil)
    }
}

/// The ImportClient of a command and what its messages say about it; close it when done.
struct Connection: Sendable {
    let client: ImportClient
    let address: String
    let hasToken: Bool

    func close() async {
        await client.close()
    }
}

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}
