import ImportEngine
import Logging
import Platform
import ProtoMessages
import RPCCore
import RPCReflection
import Synchronization

/// Checks `authorization: Bearer <token>` on every call against the scope its
/// method needs (`requiredScope`). Only `grpc.health.v1.Health` is open (and
/// server reflection when configured public); any
/// other method is denied unless it is listed (deny by default).
///
/// Lookups are cached for two seconds, keyed by the token's SHA-256 (never the
/// secret), so a flood of calls costs no database read each; unknown tokens are
/// cached apart, so a flood of random tokens cannot flush the good ones.
/// `tokensChanged` returns a value that changes whenever tokens are created or
/// revoked (importd passes a stamp file that `importd token` touches): the cache
/// is dropped on the next call, so a revoked token is refused from its next
/// call, and streams already open with it (uploads, watches) end with
/// UNAUTHENTICATED within about a second. A refused token is logged (at most one
/// line per 10 s) and answered after a short delay.
public final class TokenAuthenticator: ServerInterceptor {
    private struct Cache {
        var known: [String: (token: APIToken, expires: ContinuousClock.Instant)] = [:]
        var unknown: [String: ContinuousClock.Instant] = [:]
        var stamp: UInt64 = 0
        /// Look-ups on their way, by key: calls that come meanwhile with the
        /// same token wait for that one instead of reading the store again
        /// (10,000 watches opened at once: one read).
        var inFlight: [String: Task<APIToken?, any Error>] = [:]
    }

    /// A call that lasts (a stream) and the token it came with.
    private struct OpenCall {
        let tokenID: Int64
        weak var termination: CallTermination?
    }

    private struct Refusals {
        var count = 0
        var lastLog: ContinuousClock.Instant?
        var peers: Set<String> = []
    }

    private let importer: Importer
    private let logger: Logger?
    private let cache = Mutex(Cache())
    /// Open streams by their termination, and how many were added since the
    /// last sweep of ended ones.
    private let openCalls = Mutex<(calls: [ObjectIdentifier: OpenCall], watcher: Task<Void, Never>?, added: Int)>(([:], nil, 0))
    private let refusals = Mutex(Refusals())
    private let ttl: Duration
    private let tokensChanged: (@Sendable () -> UInt64)?
    private let publicReflection: Bool
    /// How long a refused token waits for its answer (slows guessing).
    static let refusalDelay: Duration = .milliseconds(100)
    /// Entries of each cache at most.
    static let cacheLimit = 10_000

    /// `publicReflection`: server reflection needs no token.
    public init(importer: Importer, ttl: Duration = .seconds(2), tokensChanged: (@Sendable () -> UInt64)? = nil, logger: Logger? = nil,
                publicReflection: Bool = false) {
        self.publicReflection = publicReflection
        self.importer = importer
        self.ttl = ttl
        self.tokensChanged = tokensChanged
        self.logger = logger
    }

    deinit {
        openCalls.withLock { $0.watcher?.cancel() }
    }

    /// The scope each method of ImportService needs; nil for a method not listed.
    public static func requiredScope(_ method: String) -> TokenScope? {
        switch method {
        case "CreateCampaign", "CreateSubscription": return .admin
        case "UploadContacts", "PauseImport", "ResumeImport", "CancelImport", "RevertImport": return .write
        case "WatchImport", "WatchImports", "GetImport", "ListImports", "ListImportRows", "SummarizeImport", "ExportImportErrors",
            "GetContact", "GetImportTemplate", "ListCampaigns", "ListSubscriptions":
            return .read
        default: return nil
        }
    }

    /// Server reflection: a `read` token, unless it is public.
    public static let reflectionServices: Set<String> = [ReflectionService.v1.service, ReflectionService.v1alpha.service]

    /// Services any caller may use without a token: health, and reflection when public.
    public var openServices: Set<String> {
        publicReflection ? Self.reflectionServices.union(["grpc.health.v1.Health"]) : ["grpc.health.v1.Health"]
    }

    /// The scope a method needs; nil for a method no token may call.
    static func requiredScope(service: String, method: String) -> TokenScope? {
        if reflectionServices.contains(service) { return .read }
        guard service == ImportsV1.ImportService.serviceName else { return nil }
        return requiredScope(method)
    }

    public func intercept(context: ServerContext) async throws {
        let service = context.method.service
        if openServices.contains(service) { return }
        guard let required = Self.requiredScope(service: service, method: context.method.method) else {
            throw RPCError(code: .permissionDenied, message: "\(context.method.path) is not open to any token")
        }
        guard let header = context.metadata.first("authorization") else {
            throw RPCError(code: .unauthenticated, message: "missing credentials: send the header \"authorization: Bearer <token>\"")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw RPCError(code: .unauthenticated, message: "the authorization header must be \"Bearer <token>\"")
        }
        let secret = String(parts[1]).trimmingWhitespace
        guard let token = try await lookup(secret) else {
            refused(peer: context.peer)
            try? await Task.sleep(for: Self.refusalDelay)
            throw RPCError(code: .unauthenticated, message: "the token is not valid (unknown or revoked)")
        }
        context.logFields.set("token", "tok_\(token.id)")
        // What this token may do, for a client (the web page) to show only the actions it allows.
        context.addInitialMetadata(["importd-token-scope": .string("\(token.scope)")])
        guard token.scope >= required else {
            throw RPCError(code: .permissionDenied,
                message: "\(context.method.method) needs a \(required) token; this one (\(token.name)) has the \(token.scope) scope")
        }
        if context.method.kind != .unary {
            watch(context.termination, token: token.id)
        }
    }

    private func lookup(_ secret: String) async throws -> APIToken? {
        let key = Importer.tokenHash(secret)
        let now = ContinuousClock.now
        let stamp = tokensChanged?() ?? 0
        enum Cached { case known(APIToken), unknown, pending(Task<APIToken?, any Error>) }
        let importer = self.importer
        let cached = cache.withLock { cache -> Cached in
            if cache.stamp != stamp {
                cache = Cache()
                cache.stamp = stamp
            }
            if let entry = cache.known[key], entry.expires > now { return .known(entry.token) }
            if let expires = cache.unknown[key], expires > now { return .unknown }
            if let pending = cache.inFlight[key] { return .pending(pending) }
            let lookup = Task { try await importer.authenticate(secret: secret) }
            cache.inFlight[key] = lookup
            return .pending(lookup)
        }
        let lookup: Task<APIToken?, any Error>
        switch cached {
        case .known(let token): return token
        case .unknown: return nil
        case .pending(let task): lookup = task
        }
        let token: APIToken?
        do {
            token = try await lookup.value
        } catch {
            cache.withLock { cache in
                if cache.inFlight[key] == lookup { cache.inFlight[key] = nil }
            }
            throw error
        }
        cache.withLock { cache in
            if cache.inFlight[key] == lookup { cache.inFlight[key] = nil }
            guard cache.stamp == stamp else { return }
            if let token {
                if cache.known.count >= Self.cacheLimit { cache.known.removeAll() }
                cache.known[key] = (token, now + ttl)
            } else {
                if cache.unknown.count >= Self.cacheLimit { cache.unknown.removeAll() }
                cache.unknown[key] = now + ttl
            }
        }
        return token
    }

    /// One log line per 10 s at most, with how many tokens were refused and from where.
    private func refused(peer: String) {
        let now = ContinuousClock.now
        let line = refusals.withLock { state -> String? in
            state.count += 1
            if state.peers.count < 5 { state.peers.insert(peer.split(separator: ":").dropLast().joined(separator: ":")) }
            guard state.lastLog.map({ now - $0 >= .seconds(10) }) ?? true else { return nil }
            defer {
                state.count = 0
                state.peers = []
                state.lastLog = now
            }
            return "refused \(state.count) call(s) with an unknown or revoked token, from \(state.peers.sorted().joined(separator: ", "))"
        }
        if let line { logger?.warning("\(line)") }
    }

    // MARK: - Open streams of revoked tokens

    /// Remembers a stream's token; a watcher ends it if the token is revoked.
    private func watch(_ termination: CallTermination, token: Int64) {
        guard tokensChanged != nil else { return }
        let start = openCalls.withLock { state -> Bool in
            state.calls[ObjectIdentifier(termination)] = OpenCall(tokenID: token, termination: termination)
            // Ended calls are swept as calls are added, in proportion (amortized
            // constant per call): 10,000 idle watches cost no periodic sweep.
            state.added += 1
            if state.added >= max(1024, state.calls.count) {
                state.added = 0
                for (key, call) in state.calls where call.termination == nil { state.calls[key] = nil }
            }
            return state.watcher == nil
        }
        guard start else { return }
        let task = Task { [weak self] in
            var seen = self?.tokensChanged?() ?? 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self else { return }
                let stamp = self.tokensChanged?() ?? 0
                guard stamp != seen else { continue }
                seen = stamp
                await self.endCallsOfRevokedTokens()
            }
        }
        openCalls.withLock { $0.watcher = task }
    }

    private func endCallsOfRevokedTokens() async {
        guard let tokens = try? await importer.store.tokens() else { return }
        let live = Set(tokens.filter { $0.revokedAt == nil }.map(\.id))
        let ending = openCalls.withLock { state -> [CallTermination] in
            var ending: [CallTermination] = []
            for (key, call) in state.calls {
                guard let termination = call.termination else {
                    state.calls[key] = nil
                    continue
                }
                if !live.contains(call.tokenID) {
                    ending.append(termination)
                    state.calls[key] = nil
                }
            }
            return ending
        }
        for termination in ending {
            termination.terminate(RPCError(code: .unauthenticated, message: "the token of this call was revoked"))
        }
    }
}
