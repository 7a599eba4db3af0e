/// Keepalive pings from our side, as a value (gRPC's A8 client / A9 server
/// keepalive): after `interval` without a frame from the peer, send a PING;
/// if neither its ACK nor any other frame comes within `timeout`, the peer is
/// gone and the connection closes. The owner runs two timers and applies
/// the actions.
package struct KeepalivePinger {
    package enum Action: Equatable {
        /// (Re)arm the interval timer.
        case armInterval(Duration)
        /// Send a PING, and arm the timeout timer.
        case ping(timeout: Duration)
        case cancelTimeout
        /// No answer: close the connection.
        case close
    }

    package let interval: Duration
    package let timeout: Duration
    /// A frame arrived since the interval timer was armed.
    private var sawFrame = false
    private(set) package var awaitingAck = false

    package init(interval: Duration, timeout: Duration) {
        self.interval = interval
        self.timeout = timeout
    }

    package func started() -> Action { .armInterval(interval) }

    /// Any frame from the peer shows it is alive.
    package mutating func frameReceived(pingAck: Bool) -> [Action] {
        sawFrame = true
        guard awaitingAck else { return [] }
        awaitingAck = false
        sawFrame = false
        return [.cancelTimeout, .armInterval(interval)]
    }

    package mutating func intervalFired() -> [Action] {
        guard !awaitingAck else { return [] }
        if sawFrame {
            sawFrame = false
            return [.armInterval(interval)]
        }
        awaitingAck = true
        return [.ping(timeout: timeout)]
    }

    package mutating func timeoutFired() -> [Action] {
        awaitingAck ? [.close] : []
    }
}

/// What a server allows of a client's pings (gRPC's keepalive enforcement): a
/// PING sooner than `minInterval` after the previous one (sooner than two
/// hours while no call is open, unless `permitWithoutCalls`) is a strike; past
/// `maxStrikes`, GOAWAY ENHANCE_YOUR_CALM "too_many_pings". Sending data or
/// headers forgives (as gRPC's servers do).
package struct PingPolicy {
    package var minInterval: Duration = .seconds(60)
    package var permitWithoutCalls = false
    package var maxStrikes = 2
    private var lastPing: ContinuousClock.Instant?
    private(set) package var strikes = 0

    package init() {}

    /// A PING arrived; false when the client is to be told to calm down.
    package mutating func pingReceived(now: ContinuousClock.Instant, openStreams: Int) -> Bool {
        defer { lastPing = now }
        guard let lastPing else { return true }
        let allowed = openStreams == 0 && !permitWithoutCalls ? Duration.seconds(7200) : minInterval
        guard now - lastPing < allowed else { return true }
        strikes += 1
        return strikes <= maxStrikes
    }

    /// We sent data or headers: the client's next ping is not held against it.
    package mutating func dataSent() {
        strikes = 0
        lastPing = nil
    }
}
