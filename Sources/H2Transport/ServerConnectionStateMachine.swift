/// A server connection's lifecycle and abuse limits, as a value: events go in
/// with the time, actions come out (send GOAWAY, arm or cancel a timer, close),
/// and the connection applies them. No I/O, no timers, no nghttp2: tested as a
/// value with made-up instants (ServerConnectionStateMachineTests).
///
/// Lifecycle: awaiting the client's SETTINGS (the handshake timer runs) →
/// active (the idle timer runs while no stream is open) → draining (a shutdown
/// notice, then the final GOAWAY after a delay; in-flight calls go on) or
/// closing (a GOAWAY that ends the connection was queued).
package struct ServerConnectionStateMachine {
    package struct Configuration {
        /// The client's SETTINGS must arrive within this (TLS handshake included).
        package var handshakeTimeout: Duration = .seconds(10)
        /// GOAWAY after this long without a stream; nil: never.
        package var idleTimeout: Duration? = .seconds(300)
        /// RST_STREAM frames from the client that end a stream younger than
        /// `prematureResetAge` (or one the server does not know): `resetBurst`
        /// at once, `resetRate` a second more. Rapid reset opens streams and
        /// resets them at once, to make the server start work past the limit
        /// of concurrent streams; a client cancelling streams that lived longer
        /// (a dashboard closing a view of a thousand watches) is not that, and
        /// must not lose its connection and its other streams for it.
        package var resetBurst = 1000
        package var resetRate = 33
        package var prematureResetAge: Duration = .seconds(1)
        /// CONTINUATION frames per header block, and header block bytes.
        package var maxContinuationFrames = 5
        package var maxHeaderBlockBytes = 64 << 10
        /// Frames nghttp2 rejected; past it, GOAWAY.
        package var maxInvalidFrames = 100
        /// Our own keepalive pings: after this long without a frame from the
        /// client, PING it; nil: never.
        package var keepaliveInterval: Duration? = .seconds(7200)
        /// A PING of ours unanswered this long closes the connection.
        package var keepaliveTimeout: Duration = .seconds(20)
        /// What the client's own pings may be.
        package var pingPolicy = PingPolicy()

        package init() {}
    }

    package enum Phase: Equatable {
        case awaitingSettings
        case active
        case draining
        case closing
    }

    package enum Timer: Hashable {
        case handshake
        case idle
        /// Between the shutdown notice and the final GOAWAY.
        case drain
        /// Our keepalive: the quiet interval, then the wait for the PING's ACK.
        case keepalive
        case keepaliveTimeout
    }

    package enum Action: Equatable {
        case arm(Timer, after: Duration)
        case cancel(Timer)
        /// Send GOAWAY (last stream id: the last processed) and close once it is written.
        case goAway(HTTP2ErrorCode, debug: String)
        /// A GOAWAY that announces shutdown but accepts streams still in flight.
        case shutdownNotice
        /// The final GOAWAY of a drain: no new streams; close once the last ends.
        case finalGoAway
        /// Close the socket now.
        case close
        /// Refuse the frame being received (nghttp2 then ends the session).
        case rejectFrame
        /// Send a keepalive PING.
        case ping
    }

    package let configuration: Configuration
    package private(set) var phase = Phase.awaitingSettings
    package private(set) var openStreams = 0
    private var resets: TokenBucket
    private var continuationFrames = 0
    private var headerBlockBytes = 0
    private var invalidFrames = 0
    private var pinger: KeepalivePinger?
    private var pingPolicy: PingPolicy

    package init(_ configuration: Configuration) {
        self.configuration = configuration
        self.resets = TokenBucket(burst: configuration.resetBurst, perSecond: configuration.resetRate)
        self.pinger = configuration.keepaliveInterval.map { KeepalivePinger(interval: $0, timeout: configuration.keepaliveTimeout) }
        self.pingPolicy = configuration.pingPolicy
    }

    /// The connection was accepted.
    package mutating func started() -> [Action] {
        var actions: [Action] = [.arm(.handshake, after: configuration.handshakeTimeout)]
        if let idle = configuration.idleTimeout { actions.append(.arm(.idle, after: idle)) }
        if let pinger { actions += Self.map(pinger.started()) }
        return actions
    }

    /// A frame's header arrived (before its body): header blocks are bounded.
    package mutating func frameBegins(_ frame: HTTP2Frame) -> [Action] {
        switch frame.type {
        case .headers:
            continuationFrames = 0
            headerBlockBytes = frame.length
        case .continuation:
            continuationFrames += 1
            headerBlockBytes += frame.length
            if continuationFrames > configuration.maxContinuationFrames || headerBlockBytes > configuration.maxHeaderBlockBytes {
                return goAway(.enhanceYourCalm, "header block too long") + [.rejectFrame]
            }
        default:
            break
        }
        return []
    }

    /// A whole frame arrived. For RST_STREAM, `streamAge`: how long ago the
    /// stream it ends was opened (nil: a stream the server does not know).
    /// `now` is read only for the frames whose rate is limited (PING, RST_STREAM).
    package mutating func frameReceived(_ frame: HTTP2Frame, now: @autoclosure () -> ContinuousClock.Instant, streamAge: Duration? = nil) -> [Action] {
        var actions: [Action] = []
        if pinger != nil {
            actions = pinger!.frameReceived(pingAck: frame.type == .ping && frame.ack).flatMap(Self.map)
        }
        switch frame.type {
        case .ping where !frame.ack:
            if !pingPolicy.pingReceived(now: now(), openStreams: openStreams) {
                return actions + goAway(.enhanceYourCalm, "too_many_pings")
            }
        case .settings where !frame.ack && phase == .awaitingSettings:
            phase = .active
            return actions + [.cancel(.handshake)]
        case .rstStream where streamAge.map({ $0 < configuration.prematureResetAge }) ?? true:
            if !resets.take(now: now()) { return actions + goAway(.enhanceYourCalm, "too many RST_STREAM frames") }
        default:
            break
        }
        return actions
    }

    /// A frame went out: data and headers forgive the client's early pings.
    package mutating func frameSent(_ frame: HTTP2Frame) {
        if frame.type == .data || frame.type == .headers { pingPolicy.dataSent() }
    }

    /// nghttp2 rejected a frame (and answered it); many of them is abuse.
    package mutating func invalidFrameReceived() -> [Action] {
        invalidFrames += 1
        return invalidFrames > configuration.maxInvalidFrames ? goAway(.enhanceYourCalm, "too many invalid frames") : []
    }

    /// A request stream opened.
    package mutating func streamOpened() -> [Action] {
        openStreams += 1
        return openStreams == 1 ? [.cancel(.idle)] : []
    }

    /// A request stream closed. Returns whether the connection is done with.
    package mutating func streamClosed() -> [Action] {
        openStreams -= 1
        guard openStreams == 0, phase == .active, let idle = configuration.idleTimeout else { return [] }
        return [.arm(.idle, after: idle)]
    }

    package mutating func timerFired(_ timer: Timer) -> [Action] {
        switch timer {
        case .handshake:
            return phase == .awaitingSettings ? [.close] : []
        case .idle:
            return openStreams == 0 && phase == .active ? goAway(.noError, "idle") : []
        case .drain:
            return phase == .draining ? [.finalGoAway] : []
        case .keepalive:
            guard phase != .closing, pinger != nil else { return [] }
            return pinger!.intervalFired().flatMap(Self.map)
        case .keepaliveTimeout:
            guard phase != .closing, pinger != nil else { return [] }
            return pinger!.timeoutFired().flatMap(Self.map)
        }
    }

    private static func map(_ action: KeepalivePinger.Action) -> [Action] {
        switch action {
        case .armInterval(let interval): return [.arm(.keepalive, after: interval)]
        case .ping(let timeout): return [.ping, .arm(.keepaliveTimeout, after: timeout)]
        case .cancelTimeout: return [.cancel(.keepaliveTimeout)]
        case .close: return [.close]
        }
    }

    /// Graceful shutdown: a shutdown notice now, the final GOAWAY (with the
    /// last stream id we accepted) after `noticeDelay`; calls in flight go on.
    package mutating func beginShutdown(noticeDelay: Duration) -> [Action] {
        switch phase {
        case .draining, .closing:
            return []
        case .awaitingSettings:
            phase = .closing
            return [.cancel(.handshake), .cancel(.idle), .close]
        case .active:
            phase = .draining
            return [.cancel(.idle), .shutdownNotice, .arm(.drain, after: noticeDelay)]
        }
    }

    /// The connection closed (either side): every timer stops.
    package mutating func closed() -> [Action] {
        phase = .closing
        return [.cancel(.handshake), .cancel(.idle), .cancel(.drain), .cancel(.keepalive), .cancel(.keepaliveTimeout)]
    }

    private mutating func goAway(_ code: HTTP2ErrorCode, _ debug: String) -> [Action] {
        guard phase != .closing else { return [] }
        phase = .closing
        return [.cancel(.idle), .cancel(.drain), .goAway(code, debug: debug)]
    }
}

/// Allows `burst` events at once and `perSecond` more every second.
package struct TokenBucket {
    package let burst: Double
    package let perSecond: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    package init(burst: Int, perSecond: Int) {
        self.burst = Double(burst)
        self.perSecond = Double(perSecond)
        self.tokens = Double(burst)
    }

    /// Takes a token; false when none is left.
    package mutating func take(now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = now - last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
