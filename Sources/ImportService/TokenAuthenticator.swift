import ImportEngine
import Platform
import ProtoMessages
import RPCCore
import Synchronization

/// Checks `authorization: Bearer <token>` on every ImportService call against
/// the scope the method needs: read (Get, List, Watch, Summarize, Export),
/// write (also upload, pause, resume, cancel, revert), admin (also create
/// campaigns and subscriptions). Health checks need no token.
///
/// Lookups are cached for two seconds, so a flood of calls costs no database
/// read each. `tokensChanged` returns a value that changes whenever tokens are
/// created or revoked (importd passes a stamp file that `importd token` touches):
/// the cache is dropped on the call after a change, so a revoked token is
/// refused on its next call.
public final class TokenAuthenticator: ServerInterceptor {
    private let importer: Importer
    private let cache = Mutex<(entries: [String: (token: APIToken?, expires: ContinuousClock.Instant)], stamp: UInt64)>(([:], 0))
    private let ttl: Duration
    private let tokensChanged: (@Sendable () -> UInt64)?

    public init(importer: Importer, ttl: Duration = .seconds(2), tokensChanged: (@Sendable () -> UInt64)? = nil) {
        self.importer = importer
        self.ttl = ttl
        self.tokensChanged = tokensChanged
    }

    /// The scope each method needs.
    public static func requiredScope(_ method: String) -> TokenScope {
        switch method {
        case "CreateCampaign", "CreateSubscription": return .admin
        case "UploadContacts", "PauseImport", "ResumeImport", "CancelImport", "RevertImport": return .write
        default: return .read
        }
    }

    public func intercept(context: ServerContext) async throws {
        guard context.method.service == ImportsV1.ImportService.serviceName else { return }
        guard let header = context.metadata.first("authorization") else {
            throw RPCError(code: .unauthenticated, message: "missing credentials: send the header \"authorization: Bearer <token>\"")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw RPCError(code: .unauthenticated, message: "the authorization header must be \"Bearer <token>\"")
        }
        let secret = String(parts[1]).trimmingWhitespace
        guard let token = try await lookup(secret) else {
            throw RPCError(code: .unauthenticated, message: "the token is not valid (unknown or revoked)")
        }
        let required = Self.requiredScope(context.method.method)
        guard token.scope >= required else {
            throw RPCError(code: .permissionDenied,
                message: "\(context.method.method) needs a \(required) token; this one (\(token.name)) has the \(token.scope) scope")
        }
    }

    private func lookup(_ secret: String) async throws -> APIToken? {
        let now = ContinuousClock.now
        let stamp = tokensChanged?() ?? 0
        let cached = cache.withLock { cache in
            if cache.stamp != stamp {
                cache.entries.removeAll()
                cache.stamp = stamp
            }
            return cache.entries[secret]
        }
        if let cached, cached.expires > now {
            return cached.token
        }
        let token = try await importer.authenticate(secret: secret)
        cache.withLock { cache in
            if cache.entries.count > 10_000 { cache.entries.removeAll() }
            if cache.stamp == stamp { cache.entries[secret] = (token, now + ttl) }
        }
        return token
    }
}

