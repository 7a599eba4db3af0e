import ImportEngine
import Platform
import RPCCore

/// What log lines may say about a request: never cell values or column names
/// (a header-less file's "columns" are a person's data), and nothing that could
/// forge a line (control characters are escaped).
enum LogText {
    /// Why a request was refused, in codes and counts, without its content.
    static func reason(_ error: any Error) -> String {
        switch error {
        case ImportError.invalidArgument(_, let violations) where !violations.isEmpty:
            return "INVALID_ARGUMENT (\(violations.count) problem\(violations.count == 1 ? "" : "s"))"
        case let error as ImportError:
            return "\(error.rpcError.code.name): \(error.description)"
        case let error as RPCError:
            return "\(error.code.name)"
        default:
            return "INTERNAL"
        }
    }
}
