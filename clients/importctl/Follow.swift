import ArgumentParser
import ImportClient
import Dispatch
import Foundation
import Platform
import ProtoMessages
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How an import reads, in one line or a few.
enum JobText {
    /// "imp_12  RUNNING  [████░░░░]  45%  67,500/150,000 rows  created 66,000  updated 1,000  skipped 0  failed 500"
    static func line(_ job: ImportsV1.ImportJob, barWidth: Int = 20) -> String {
        let state = Format.state(job.state)
        switch job.state {
        case .queued where job.validateOnly:
            return "\(job.id)  QUEUED  dry run of \(Format.count(job.totalRows)) rows, starting now"
        case .queued where job.processedRows > 0:
            let waiting = job.totalRows > job.processedRows ? job.totalRows - job.processedRows : 0
            return "\(job.id)  QUEUED  \(Format.count(job.processedRows))/\(Format.count(job.totalRows)) rows done, \(Format.count(waiting)) waiting; next run at \(Format.nextRun(job.nextRunAt))"
        case .queued:
            return "\(job.id)  QUEUED  \(Format.count(job.totalRows)) rows waiting; next run at \(Format.nextRun(job.nextRunAt))"
        case .paused:
            return "\(job.id)  PAUSED  at \(Format.count(job.processedRows))/\(Format.count(job.totalRows)) rows (importctl resume \(job.id))"
        default:
            let fraction = job.totalRows == 0 ? 1 : Double(job.processedRows) / Double(job.totalRows)
            var text = "\(job.id)  \(state)  "
            if barWidth > 0 { text += Format.bar(fraction, width: barWidth) + "  " }
            text += "\(Format.percent(job.processedRows, of: job.totalRows))  \(Format.count(job.processedRows))/\(Format.count(job.totalRows)) rows"
            text += "  created \(Format.count(job.created))  updated \(Format.count(job.updated))"
            text += "  skipped \(Format.count(job.skipped))  failed \(Format.count(job.failed))"
            if job.validateOnly { text += "  (dry run)" }
            return text
        }
    }

    /// The status command's block.
    static func block(_ job: ImportsV1.ImportJob) -> String {
        var lines: [(String, String)] = [
            ("Import", "\(job.id)  \(job.fileName)  \(Format.bytes(Double(job.bytes)))  \(Format.count(job.totalRows)) rows"
                + (job.validateOnly ? "  (dry run: nothing is written to contacts)" : "")),
            ("State", Format.state(job.state) + (job.state == .running || job.state == .paused
                ? "  \(Format.percent(job.processedRows, of: job.totalRows)) (\(Format.count(job.processedRows)) of \(Format.count(job.totalRows)) rows)" : "")),
            ("Results", "created \(Format.count(job.created)) · updated \(Format.count(job.updated)) · skipped \(Format.count(job.skipped)) · failed \(Format.count(job.failed))"),
            ("Kind", job.kind == .lead ? "leads" : job.kind == .contact ? "contacts" : "contacts (updated ones keep their kind)"),
            ("Encoding", job.encoding),
            ("Duplicates", job.onDuplicate == .skip ? "skip (existing contacts are left alone)" : "update (non-empty fields are merged)"),
        ]
        if !job.originCampaignID.isEmpty { lines.append(("Campaign", job.originCampaignID)) }
        if !job.subscriptionIDs.isEmpty { lines.append(("Subscriptions", job.subscriptionIDs.joined(separator: ", "))) }
        lines.append(("Uploaded", Format.time(job.createdAt)))
        if Format.date(job.startedAt) != nil { lines.append(("Started", Format.time(job.startedAt))) }
        if Format.date(job.finishedAt) != nil { lines.append(("Finished", Format.time(job.finishedAt))) }
        if job.state == .queued { lines.append(("Next run", job.validateOnly ? "now (a dry run does not wait for the scheduler)" : Format.nextRun(job.nextRunAt))) }
        if !job.sameFileAs.isEmpty { lines.append(("Same file as", "\(job.sameFileAs) (an earlier upload with the same SHA-256)")) }
        if job.state == .reverted {
            lines.append(("Reverted", "\(Format.count(job.revertedRows)) rows undone, \(Format.count(job.revertKeptRows)) kept (changed by later imports)"))
        }
        if !job.error.isEmpty { lines.append((job.state == .failed ? "Error" : "Note", job.error)) }
        lines.append(("SHA-256", job.sha256))
        if job.failed > 0 {
            lines.append(("Next", "importctl summary \(job.id) --group-by error · importctl errors \(job.id) -o failed.csv"))
        }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// The exit status a watch ends with.
    static func exitStatus(_ state: ImportsV1.ImportState) -> Int32 {
        switch state {
        case .completed: return 0
        case .failed: return Exit.importFailed
        default: return Exit.importCancelled
        }
    }
}

/// Follows an import until it ends; returns the exit status for its final state.
/// Ctrl-C stops following (the import goes on) and exits 130. A lost connection
/// (a server restart or drain) is retried, and the watch goes on from a fresh
/// snapshot; both are said once.
func follow(_ id: String, _ connection: Connection, json: Bool) async throws -> Int32 {
    let live = Terminal.isTerminal(Terminal.standardOutput) && !json
    let state = FollowState()
    let watcher = Task {
        for try await job in connection.client.watch(id, events: { note($0, what: id, live: live) }) {
            state.set(job)
            show(job, json: json, live: live)
        }
    }
    // On a terminal the QUEUED countdown ticks every second.
    let ticker = Task {
        while live && !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if let job = state.last, job.state == .queued { redraw(JobText.line(job, barWidth: barWidth())) }
        }
    }
    let interrupt = Interrupt { watcher.cancel() }
    defer {
        interrupt.stop()
        ticker.cancel()
    }
    // A cancelled watch ends quietly or with an error: Ctrl-C decides which this is.
    let result = await watcher.result
    if interrupt.fired {
        if live { Terminal.write(Terminal.standardOutput, "\n") }
        Terminal.write(Terminal.standardError, "stopped watching \(id); the import goes on (importctl watch \(id) follows it again)\n")
        throw ExitCode(Exit.interrupted)
    }
    if case .failure(let error) = result {
        if live { Terminal.write(Terminal.standardOutput, "\n") }
        throw error
    }
    guard let last = state.last else { return 0 }
    if live {
        Terminal.write(Terminal.standardOutput, "\n")
    }
    if !json {
        let elapsed = Format.date(last.finishedAt).flatMap { end in Format.date(last.startedAt).map { end.timeIntervalSince($0) } }
        var summary = "\(Format.state(last.state))"
        if let elapsed { summary += " in \(Format.duration(elapsed))" }
        summary += ": created \(Format.count(last.created)), updated \(Format.count(last.updated)), skipped \(Format.count(last.skipped)), failed \(Format.count(last.failed))"
        if !last.error.isEmpty { summary += " — \(last.error)" }
        print(summary)
        if last.failed > 0 {
            print("see why: importctl summary \(id) --group-by error; fix and re-upload: importctl errors \(id) -o failed.csv")
        }
    }
    return JobText.exitStatus(last.state)
}

/// Follows every import (WatchImports) until Ctrl-C: the ones still going
/// first, then each change. Reconnects like `follow`.
func followAll(_ connection: Connection, json: Bool) async throws {
    let watcher = Task {
        for try await job in connection.client.watchAll(events: { note($0, what: "all imports", live: false) }) {
            show(job, json: json, live: false)
        }
    }
    let interrupt = Interrupt { watcher.cancel() }
    defer { interrupt.stop() }
    let result = await watcher.result
    if interrupt.fired { throw ExitCode(Exit.interrupted) }
    try result.get()
}

/// Says once that the connection was lost, and once that the watch goes on.
private func note(_ event: ImportClient.WatchEvent, what: String, live: Bool) {
    switch event {
    case .connectionLost(let error):
        if live { Terminal.write(Terminal.standardOutput, "\n") }
        Terminal.write(Terminal.standardError, "importctl: lost the connection to importd (\(error.message)); reconnecting\n")
    case .reconnected:
        Terminal.write(Terminal.standardError, "importctl: reconnected; watching \(what) again from a fresh snapshot\n")
    }
}

private func show(_ job: ImportsV1.ImportJob, json: Bool, live: Bool) {
    if json {
        print(job.protoJSON.text)
        fflush(nil)
    } else if live {
        redraw(JobText.line(job, barWidth: barWidth()))
    } else {
        print(JobText.line(job, barWidth: 0))
        fflush(nil)
    }
}

private func barWidth() -> Int {
    Terminal.columns(Terminal.standardOutput) >= 120 ? 20 : 0
}

/// Rewrites the current terminal line.
func redraw(_ text: String) {
    let width = Terminal.columns(Terminal.standardOutput)
    Terminal.write(Terminal.standardOutput, "\r\u{1B}[2K" + Format.fit(text, max(10, width - 1)))
}

final class FollowState: Sendable {
    private let job = Mutex<ImportsV1.ImportJob?>(nil)

    func set(_ job: ImportsV1.ImportJob) { self.job.withLock { $0 = job } }
    var last: ImportsV1.ImportJob? { job.withLock { $0 } }
}

/// Runs `action` on the first Ctrl-C (SIGINT) until stopped; after `stop`,
/// Ctrl-C exits with 130 again.
final class Interrupt: Sendable {
    private let didFire = Mutex(false)

    init(_ action: @escaping @Sendable () -> Void) {
        InterruptSignal.set { [self] in
            didFire.withLock { $0 = true }
            action()
        }
    }

    var fired: Bool { didFire.withLock { $0 } }

    func stop() {
        InterruptSignal.clear()
    }
}
