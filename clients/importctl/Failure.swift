import ArgumentParser
import ImportClient
import Platform
import RPCCore

/// Exit statuses (see `importctl --help`).
enum Exit {
    static let refused: Int32 = 1
    static let importFailed: Int32 = 3
    static let importCancelled: Int32 = 4
    static let interrupted: Int32 = 130
}

/// Runs a command with a connection: any failure becomes one sentence on stderr
/// and an exit status, never a stack trace.
func withConnection(_ options: GlobalOptions, compressing: Bool = false, _ body: (Connection) async throws -> Void) async throws {
    let connection = options.connect(compressing: compressing)
    do {
        try await body(connection)
        await connection.close()
    } catch let exit as ExitCode {
        await connection.close()
        throw exit
    } catch {
        await connection.close()
        Terminal.write(Terminal.standardError, "importctl: " + describe(error, connection) + "\n")
        throw ExitCode(Exit.refused)
    }
}

/// The sentence for a failure.
func describe(_ error: any Error, _ connection: Connection) -> String {
    let rpc: (code: RPCCore.Status.Code, message: String)
    if let failed = error as? ImportClientError {
        rpc = (failed.code, failed.message)
    } else if let failed = error as? RPCError {
        rpc = (failed.code, failed.message)
    } else {
        if let validation = error as? ValidationError { return validation.message }
        return "\(error)"
    }
    switch rpc.code {
    case .unavailable where rpc.message.contains("TLS"):
        return "\(rpc.message) (check --tls-ca, --tls-server-name, or whether the server speaks TLS at all)"
    case .unavailable where rpc.message.contains("refused") || rpc.message.contains("cannot connect") || rpc.message.contains("timed out"):
        return "cannot reach importd at \(connection.address): \(rpc.message.components(separatedBy: ": ").last ?? rpc.message); is it running? (--server or IMPORTCTL_SERVER)"
    case .unauthenticated:
        let hint = connection.hasToken ? "pass a valid token with --token or IMPORTCTL_TOKEN" : "pass a token with --token or set IMPORTCTL_TOKEN (importd writes one to DATA_DIR/admin.token)"
        return "UNAUTHENTICATED: \(rpc.message); \(hint)"
    default:
        return "\(rpc.code.name): \(FlagWords.translate(rpc.message))"
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
