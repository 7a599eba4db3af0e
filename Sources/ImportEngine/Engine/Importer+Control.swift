/// Pause, resume, cancel, revert.
extension Importer {
    /// RUNNING stops at the next batch boundary (within a second); QUEUED
    /// pauses at once; PAUSED stays. Terminal: FAILED_PRECONDITION.
    public func pause(_ publicID: String) async throws -> ImportJob {
        try await stop(publicID, .pause)
    }

    /// QUEUED, PAUSED or RUNNING becomes CANCELLED (RUNNING at the next batch
    /// boundary); rows already applied stay.
    public func cancel(_ publicID: String) async throws -> ImportJob {
        try await stop(publicID, .cancel)
    }

    private func stop(_ publicID: String, _ request: StopRequest) async throws -> ImportJob {
        let event: ImportEvent = request == .pause ? .pause : .cancel
        let target: ImportState = request == .pause ? .paused : .cancelled
        // A few rounds at most: each lost race means the import moved on.
        for _ in 0..<100 {
            let job = try await existingJob(publicID)
            let next: ImportState
            do {
                next = try ImportLifecycle.next(job.state, on: event)
            } catch {
                throw ImportError.failedPrecondition(error.description)
            }
            if next == job.state { return job }
            if job.state == .running, let stopped = await coordinatorStop(job.id, request) {
                guard stopped.state == target else {
                    throw ImportError.failedPrecondition("the import became \(stopped.state) before it could be \(request == .pause ? "paused" : "cancelled")")
                }
                return stopped
            }
            if let moved = try await coordinatorTransition(job.id, from: [job.state], to: target) {
                announce(moved)
                return moved
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ImportError.unavailable("the import kept changing state; try again")
    }

    /// PAUSED goes back to the queue and continues from its checkpoint at the
    /// next tick. QUEUED or RUNNING: nothing to do. Terminal: FAILED_PRECONDITION.
    public func resume(_ publicID: String) async throws -> ImportJob {
        let job = try await existingJob(publicID)
        do {
            let next = try ImportLifecycle.next(job.state, on: .resume)
            if next == job.state { return job }
        } catch {
            throw ImportError.failedPrecondition(error.description)
        }
        guard let resumed = try await store.transition(id: job.id, from: [.paused], to: .queued, error: nil, at: clock.now()) else {
            return try await resume(publicID)
        }
        announce(resumed)
        startDryRun(resumed)
        return resumed
    }

    /// Undoes a COMPLETED or CANCELLED import: contacts it created are deleted
    /// and fields it overwrote restored, unless a later import changed them
    /// (those rows are kept and reported); subscriptions it added are removed.
    public func revert(_ publicID: String) async throws -> ImportJob {
        let job = try await existingJob(publicID)
        do {
            _ = try ImportLifecycle.next(job.state, on: .revert)
        } catch {
            throw ImportError.failedPrecondition(error.description)
        }
        if job.validateOnly {
            throw ImportError.failedPrecondition("a dry run (validate_only) changed nothing; there is nothing to revert")
        }
        let store = self.store
        let at = clock.now()
        // Not while an import runs (see RunCoordinator).
        let reverted = try await coordinatorExclusively { try await store.revert(job: job, at: at) }
        announce(reverted)
        return reverted
    }
}
