import H2Transport
import Testing

/// The server connection's lifecycle and abuse limits as a value: events with
/// made-up instants in, actions out. No sockets, no sleeps.
@Suite struct ServerConnectionStateMachineTests {
    typealias Machine = ServerConnectionStateMachine
    let t0 = ContinuousClock.now

    private func machine(_ configure: (inout Machine.Configuration) -> Void = { _ in }) -> Machine {
        var configuration = Machine.Configuration()
        configuration.handshakeTimeout = .seconds(10)
        configuration.idleTimeout = .seconds(300)
        configuration.keepaliveInterval = nil
        configure(&configuration)
        return Machine(configuration)
    }

    private let clientSettings = HTTP2Frame(type: .settings, streamID: 0)

    @Test func handshakeTimerClosesAConnectionThatNeverSentSettings() {
        var m = machine()
        let r1 = m.started()
        #expect(r1 == [.arm(.handshake, after: .seconds(10)), .arm(.idle, after: .seconds(300))])
        let r2 = m.timerFired(.handshake)
        #expect(r2 == [.close])
    }

    @Test func settingsCancelTheHandshakeTimerOnce() {
        var m = machine()
        _ = m.started()
        let r3 = m.frameReceived(clientSettings, now: t0)
        #expect(r3 == [.cancel(.handshake)])
        #expect(m.phase == .active)
        // A second SETTINGS, or an ACK of ours, changes nothing; a late timer is ignored.
        let r4 = m.frameReceived(clientSettings, now: t0)
        #expect(r4.isEmpty)
        var ack = clientSettings
        ack.ack = true
        let r5 = m.frameReceived(ack, now: t0)
        #expect(r5.isEmpty)
        let r6 = m.timerFired(.handshake)
        #expect(r6.isEmpty)
    }

    @Test func idleTimerRunsOnlyWhileNoStreamIsOpen() {
        var m = machine()
        _ = m.started()
        _ = m.frameReceived(clientSettings, now: t0)
        let r7 = m.streamOpened()
        #expect(r7 == [.cancel(.idle)])
        let r8 = m.streamOpened()
        #expect(r8.isEmpty)
        let r9 = m.streamClosed()
        #expect(r9.isEmpty, "one stream is still open")
        let r10 = m.timerFired(.idle)
        #expect(r10.isEmpty, "a stale idle timer with a stream open does nothing")
        let r11 = m.streamClosed()
        #expect(r11 == [.arm(.idle, after: .seconds(300))])
        let r12 = m.timerFired(.idle)
        #expect(r12 == [.cancel(.idle), .cancel(.drain), .goAway(.noError, debug: "idle")])
        #expect(m.phase == .closing)
    }

    @Test func noIdleTimeoutMeansNoIdleTimer() {
        var m = machine { $0.idleTimeout = nil }
        let r13 = m.started()
        #expect(r13 == [.arm(.handshake, after: .seconds(10))])
        _ = m.frameReceived(clientSettings, now: t0)
        _ = m.streamOpened()
        let r14 = m.streamClosed()
        #expect(r14.isEmpty)
    }

    /// Active, allowing 3 resets at once and 1 a second more.
    private func machineWithThreeResets() -> Machine {
        var m = machine {
            $0.resetBurst = 3
            $0.resetRate = 1
        }
        _ = m.frameReceived(clientSettings, now: t0)
        return m
    }

    @Test func rapidResetIsAllowedItsBurstThenGoAway() {
        var m = machineWithThreeResets()
        let reset = HTTP2Frame(type: .rstStream, streamID: 1)
        for _ in 0..<3 {
            let actions = m.frameReceived(reset, now: t0)
            #expect(actions.isEmpty)
        }
        let r16 = m.frameReceived(reset, now: t0)
        #expect(r16 == [.cancel(.idle), .cancel(.drain), .goAway(.enhanceYourCalm, debug: "too many RST_STREAM frames")])
        // Only one GOAWAY, however many more come.
        let r17 = m.frameReceived(reset, now: t0)
        #expect(r17.isEmpty)
    }

    @Test func onlyResetsOfYoungOrUnknownStreamsCount() {
        var m = machineWithThreeResets()
        let reset = HTTP2Frame(type: .rstStream, streamID: 1)
        // A client cancelling streams that lived a while (watches) loses nothing, however many.
        for _ in 0..<1000 {
            #expect(m.frameReceived(reset, now: t0, streamAge: .seconds(1)).isEmpty)
        }
        // Streams reset at once, or streams the server does not know: the burst, then GOAWAY.
        #expect(m.frameReceived(reset, now: t0, streamAge: .milliseconds(999)).isEmpty)
        #expect(m.frameReceived(reset, now: t0, streamAge: .zero).isEmpty)
        #expect(m.frameReceived(reset, now: t0, streamAge: nil).isEmpty)
        let last = m.frameReceived(reset, now: t0, streamAge: .milliseconds(5))
        #expect(last == [.cancel(.idle), .cancel(.drain), .goAway(.enhanceYourCalm, debug: "too many RST_STREAM frames")])
    }

    @Test func resetBucketRefillsWithTime() {
        var m = machine {
            $0.resetBurst = 2
            $0.resetRate = 1
        }
        let reset = HTTP2Frame(type: .rstStream, streamID: 1)
        let r18 = m.frameReceived(reset, now: t0)
        #expect(r18.isEmpty)
        let r19 = m.frameReceived(reset, now: t0)
        #expect(r19.isEmpty)
        // Two seconds later, two more tokens: a slow steady stream of resets is fine.
        let r20 = m.frameReceived(reset, now: t0 + .seconds(2))
        #expect(r20.isEmpty)
        let r21 = m.frameReceived(reset, now: t0 + .seconds(2))
        #expect(r21.isEmpty)
        let r22 = m.frameReceived(reset, now: t0 + .seconds(2))
        #expect(r22.contains(.goAway(.enhanceYourCalm, debug: "too many RST_STREAM frames")))
    }

    @Test func continuationFloodIsRefused() {
        var m = machine { $0.maxContinuationFrames = 2 }
        let r23 = m.frameBegins(HTTP2Frame(type: .headers, streamID: 1, length: 100))
        #expect(r23.isEmpty)
        let r24 = m.frameBegins(HTTP2Frame(type: .continuation, streamID: 1, length: 100))
        #expect(r24.isEmpty)
        let r25 = m.frameBegins(HTTP2Frame(type: .continuation, streamID: 1, length: 100))
        #expect(r25.isEmpty)
        let actions = m.frameBegins(HTTP2Frame(type: .continuation, streamID: 1, length: 100))
        #expect(actions.contains(.goAway(.enhanceYourCalm, debug: "header block too long")))
        #expect(actions.last == .rejectFrame)
        // A new header block starts counting again.
        var fresh = machine { $0.maxContinuationFrames = 2 }
        for _ in 0..<5 {
            let r26 = fresh.frameBegins(HTTP2Frame(type: .headers, streamID: 1, length: 100))
            #expect(r26.isEmpty)
            let r27 = fresh.frameBegins(HTTP2Frame(type: .continuation, streamID: 1, length: 100))
            #expect(r27.isEmpty)
        }
    }

    @Test func oversizedHeaderBlockIsRefused() {
        var m = machine { $0.maxHeaderBlockBytes = 1000 }
        let r28 = m.frameBegins(HTTP2Frame(type: .headers, streamID: 1, length: 900))
        #expect(r28.isEmpty)
        let r29 = m.frameBegins(HTTP2Frame(type: .continuation, streamID: 1, length: 101))
        #expect(r29.last == .rejectFrame)
    }

    @Test func invalidFramesAreToleratedUpToTheLimit() {
        var m = machine { $0.maxInvalidFrames = 2 }
        let r30 = m.invalidFrameReceived()
        #expect(r30.isEmpty)
        let r31 = m.invalidFrameReceived()
        #expect(r31.isEmpty)
        let r32 = m.invalidFrameReceived()
        #expect(r32.contains(.goAway(.enhanceYourCalm, debug: "too many invalid frames")))
    }

    @Test func gracefulShutdownNoticesThenSendsTheFinalGoAway() {
        var m = machine()
        _ = m.started()
        _ = m.frameReceived(clientSettings, now: t0)
        _ = m.streamOpened()
        let r33 = m.beginShutdown(noticeDelay: .seconds(1))
        #expect(r33 == [.cancel(.idle), .shutdownNotice, .arm(.drain, after: .seconds(1))])
        #expect(m.phase == .draining)
        let r34 = m.beginShutdown(noticeDelay: .seconds(1))
        #expect(r34.isEmpty, "once")
        let r35 = m.timerFired(.drain)
        #expect(r35 == [.finalGoAway])
        // The call in flight ends: no idle timer while draining.
        let r36 = m.streamClosed()
        #expect(r36.isEmpty)
        let r37 = m.timerFired(.idle)
        #expect(r37.isEmpty)
    }

    @Test func abuseDuringADrainStillEndsTheConnection() {
        var m = machine { $0.maxInvalidFrames = 0 }
        _ = m.frameReceived(clientSettings, now: t0)
        _ = m.beginShutdown(noticeDelay: .seconds(1))
        let r38 = m.invalidFrameReceived()
        #expect(r38.contains(.goAway(.enhanceYourCalm, debug: "too many invalid frames")))
        let r39 = m.timerFired(.drain)
        #expect(r39.isEmpty, "the GOAWAY already went out")
    }

    @Test func shutdownBeforeTheHandshakeClosesAtOnce() {
        var m = machine()
        _ = m.started()
        let r40 = m.beginShutdown(noticeDelay: .seconds(1))
        #expect(r40 == [.cancel(.handshake), .cancel(.idle), .close])
    }

    @Test func closingStopsEveryTimer() {
        var m = machine()
        _ = m.started()
        let r41 = m.closed()
        #expect(r41 == [.cancel(.handshake), .cancel(.idle), .cancel(.drain), .cancel(.keepalive), .cancel(.keepaliveTimeout)])
        let r42 = m.timerFired(.idle)
        #expect(r42.isEmpty)
        let r43 = m.timerFired(.handshake)
        #expect(r43.isEmpty)
    }

    // MARK: - Keepalive

    private let ping = HTTP2Frame(type: .ping, streamID: 0)
    private var pingAck: HTTP2Frame {
        var frame = HTTP2Frame(type: .ping, streamID: 0)
        frame.ack = true
        return frame
    }

    @Test func aQuietClientIsPingedAndClosedWhenItDoesNotAnswer() {
        var m = machine {
            $0.keepaliveInterval = .seconds(60)
            $0.keepaliveTimeout = .seconds(20)
        }
        let started = m.started()
        #expect(started.contains(.arm(.keepalive, after: .seconds(60))))
        _ = m.frameReceived(clientSettings, now: t0)
        // A frame came in the interval: no ping, just wait again.
        let busy = m.timerFired(.keepalive)
        #expect(busy == [.arm(.keepalive, after: .seconds(60))])
        // Nothing since: ping, and wait for the answer.
        let quiet = m.timerFired(.keepalive)
        #expect(quiet == [.ping, .arm(.keepaliveTimeout, after: .seconds(20))])
        let gone = m.timerFired(.keepaliveTimeout)
        #expect(gone == [.close])
    }

    @Test func anAnsweredPingKeepsTheConnection() {
        var m = machine { $0.keepaliveInterval = .seconds(60) }
        _ = m.started()
        let quiet = m.timerFired(.keepalive)
        #expect(quiet.first == .ping)
        let answered = m.frameReceived(pingAck, now: t0)
        #expect(answered == [.cancel(.keepaliveTimeout), .arm(.keepalive, after: .seconds(60))])
        let late = m.timerFired(.keepaliveTimeout)
        #expect(late.isEmpty)
    }

    @Test func pingsTooOftenGetGoAwayTooManyPings() {
        var m = machine { $0.pingPolicy.minInterval = .seconds(60) }
        _ = m.frameReceived(clientSettings, now: t0)
        _ = m.streamOpened()
        let first = m.frameReceived(ping, now: t0)
        #expect(first.isEmpty)
        // Two strikes are forgiven; the third ping inside the minute is not.
        let second = m.frameReceived(ping, now: t0 + .seconds(10))
        let third = m.frameReceived(ping, now: t0 + .seconds(20))
        #expect(second.isEmpty && third.isEmpty)
        let fourth = m.frameReceived(ping, now: t0 + .seconds(30))
        #expect(fourth.contains(.goAway(.enhanceYourCalm, debug: "too_many_pings")))
    }

    @Test func pingsAtThePermittedRateAreFine() {
        var m = machine { $0.pingPolicy.minInterval = .seconds(60) }
        _ = m.streamOpened()
        for minute in 0..<10 {
            let actions = m.frameReceived(ping, now: t0 + .seconds(60 * minute))
            #expect(actions.isEmpty)
        }
    }

    @Test func dataWeSendForgivesEarlyPings() {
        var m = machine { $0.pingPolicy.minInterval = .seconds(60) }
        _ = m.streamOpened()
        for second in 0..<10 {
            let actions = m.frameReceived(ping, now: t0 + .seconds(second))
            #expect(actions.isEmpty, "ping \(second)")
            m.frameSent(HTTP2Frame(type: .data, streamID: 1, length: 10))
        }
    }

    @Test func withoutCallsAClientMayPingOnlyRarelyUnlessPermitted() {
        var strict = machine { $0.pingPolicy.minInterval = .seconds(60) }
        for minute in 0..<3 { _ = strict.frameReceived(ping, now: t0 + .seconds(120 * minute)) }
        let strictFourth = strict.frameReceived(ping, now: t0 + .seconds(360))
        #expect(strictFourth.contains(.goAway(.enhanceYourCalm, debug: "too_many_pings")))
        var lenient = machine {
            $0.pingPolicy.minInterval = .seconds(60)
            $0.pingPolicy.permitWithoutCalls = true
        }
        for minute in 0..<4 {
            let actions = lenient.frameReceived(ping, now: t0 + .seconds(120 * minute))
            #expect(actions.isEmpty)
        }
    }
}
