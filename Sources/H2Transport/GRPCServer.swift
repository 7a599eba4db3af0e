import CLibevent
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A gRPC server on nghttp2 and libevent: listens, accepts, and runs every call
/// through an `RPCRouter`.
public final class GRPCServer: Sendable {
    private let core: ServerCore

    public init(router: RPCRouter, configuration: GRPCServerConfiguration = GRPCServerConfiguration()) {
        core = ServerCore(router: router, configuration: configuration)
    }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        try await core.start()
    }

    /// The bound port (0 before `start`).
    public var port: Int { core.boundPort.load(ordering: .relaxed) }

    /// Response writers waiting for room right now (flow control or a full socket).
    public var suspendedWriters: Int { core.stats.suspendedWriters.load(ordering: .relaxed) }

    /// Connections open now.
    public var connectionCount: Int { core.connectionCount.load(ordering: .relaxed) }

    /// Reads the TLS certificate and key files again (SIGHUP in importd): new
    /// connections get them, open ones are not touched. Throws, keeping the
    /// current ones, when the files do not make a valid pair.
    public func reloadTLS() async throws {
        try await core.reloadTLS()
    }

    /// Connections, streams, bytes and GOAWAYs so far (for metrics).
    public var statistics: TransportStatistics {
        let stats = core.stats
        return TransportStatistics(
            connections: core.connectionCount.load(ordering: .relaxed), streams: stats.streamsOpen.load(ordering: .relaxed),
            bytesIn: stats.bytesIn.load(ordering: .relaxed), bytesOut: stats.bytesOut.load(ordering: .relaxed),
            connectionsRefused: stats.connectionsRefused.load(ordering: .relaxed),
            suspendedWriters: stats.suspendedWriters.load(ordering: .relaxed), goAways: stats.goAwaysByReason,
            limitHits: stats.limitHitsByLimit)
    }

    /// Stops accepting, sends GOAWAY (a notice, then the real one), lets in-flight
    /// calls finish for up to `grace`, then cancels what is left and stops.
    public func shutdown(grace: Duration = .seconds(10)) async {
        await core.shutdown(grace: grace)
    }
}
