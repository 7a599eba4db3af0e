/// The state of an import.
///
/// - QUEUED: waiting for the scheduler's next tick. Goes to RUNNING (picked up),
///   PAUSED, CANCELLED, or FAILED (its file cannot be read).
/// - RUNNING: rows are being applied in batches. Goes to PAUSED or CANCELLED (at
///   the next batch boundary), COMPLETED or FAILED. When the server stops or
///   crashes mid-run it stays RUNNING in storage, and the next start resumes it
///   from its checkpoint (a crash could not record anything else).
/// - PAUSED: stopped by a user. Goes to QUEUED (resume) or CANCELLED.
/// - COMPLETED: every row applied. Goes to REVERTED.
/// - CANCELLED: stopped for good; rows applied so far stay. Goes to REVERTED.
/// - FAILED, REVERTED: final.
public enum ImportState: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case queued = 1, running, paused, completed, failed, cancelled, reverted

    /// No further change except a revert.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled, .reverted: return true
        case .queued, .running, .paused: return false
        }
    }

    public var description: String {
        switch self {
        case .queued: return "QUEUED"
        case .running: return "RUNNING"
        case .paused: return "PAUSED"
        case .completed: return "COMPLETED"
        case .failed: return "FAILED"
        case .cancelled: return "CANCELLED"
        case .reverted: return "REVERTED"
        }
    }
}

/// What can happen to an import.
public enum ImportEvent: Sendable, Hashable, CustomStringConvertible {
    case start, pause, resume, cancel, complete, fail, revert

    public var description: String {
        switch self {
        case .start: return "start"
        case .pause: return "pause"
        case .resume: return "resume"
        case .cancel: return "cancel"
        case .complete: return "complete"
        case .fail: return "fail"
        case .revert: return "revert"
        }
    }
}

/// An event that the import's state does not allow.
public struct InvalidTransition: Error, Sendable, Hashable, CustomStringConvertible {
    public let state: ImportState
    public let event: ImportEvent

    public init(state: ImportState, event: ImportEvent) {
        self.state = state
        self.event = event
    }

    public var description: String {
        switch event {
        case .revert: return "only a COMPLETED or CANCELLED import can be reverted; this one is \(state)"
        case .resume: return "only a PAUSED import can be resumed; this one is \(state)"
        default: return "cannot \(event) an import that is \(state)"
        }
    }
}

/// The import lifecycle as a pure function: every allowed transition is here,
/// and every state change goes through it. The machine decides, the caller
/// acts, the store persists (`ImportStore.transition(id:event:error:at:)` asks
/// `next` inside its own transaction, against the state it has stored).
public enum ImportLifecycle {
    /// The state after `event`, or `InvalidTransition`. Requests that are
    /// already satisfied (pause a PAUSED import, resume a QUEUED one) keep the
    /// state rather than fail, so retries are safe.
    public static func next(_ state: ImportState, on event: ImportEvent) throws(InvalidTransition) -> ImportState {
        switch (state, event) {
        case (.queued, .start): return .running
        case (.queued, .pause), (.running, .pause), (.paused, .pause): return .paused
        case (.queued, .cancel), (.running, .cancel), (.paused, .cancel): return .cancelled
        case (.queued, .fail), (.running, .fail): return .failed
        case (.running, .complete): return .completed
        case (.paused, .resume), (.queued, .resume), (.running, .resume): return state == .paused ? .queued : state
        case (.completed, .revert), (.cancelled, .revert): return .reverted
        default: throw InvalidTransition(state: state, event: event)
        }
    }
}
