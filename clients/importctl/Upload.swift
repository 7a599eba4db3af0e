import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore
import Synchronization

struct Upload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a CSV file of contacts or leads; it is imported at the next scheduled run.",
        discussion: """
            The file is streamed in chunks (never read whole) with its SHA-256; the header row is checked
            at once and a bad file is refused before anything is created.

            Examples:
              importctl upload contacts.csv --campaign SUMMER26 --subscription sub_1 --watch
              importctl upload leads.csv --kind lead --on-duplicate skip
              importctl upload export.csv --map 'Vorname=first_name' --map 'Interne Nr=' --validate-only
              importctl upload old-export.csv --encoding iso-8859-1   # only if detection is not enough
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The CSV file (comma, semicolon or tab separated; UTF-8 or windows-1252, detected).")
    var file: String

    @Option(help: "contact or lead (default: new rows become contacts, updated ones keep their kind).")
    var kind: String?

    @Option(help: ArgumentHelp("The origin campaign: its id (cmp_3) or code (SUMMER26).", valueName: "id|code"))
    var campaign: String?

    @Option(name: .customLong("subscription"), help: ArgumentHelp("A subscription (mailing list) to add: id (sub_1) or code; repeatable.", valueName: "id|code"))
    var subscriptions: [String] = []

    @Option(help: "update (merge non-empty fields into the existing contact) or skip (leave it alone).")
    var onDuplicate: String = "update"

    @Option(name: .customLong("map"), help: ArgumentHelp("Map a column: 'CSV header=field', or 'CSV header=' to ignore it; repeatable.", valueName: "header=field"))
    var maps: [String] = []

    @Flag(help: "Ignore columns that map to no contact field instead of refusing the file.")
    var ignoreUnknownColumns = false

    @Flag(help: "A dry run: check every row, write no contact; it starts at once.")
    var validateOnly = false

    @Option(help: "utf-8, windows-1252 or iso-8859-1 (default: detected from the file).")
    var encoding: String?

    @Flag(help: "Then follow the import live until it ends.")
    var watch = false

    @Flag(help: "Compress the upload with gzip (a CSV shrinks about 4-5x: worth it over a network, not on loopback).")
    var compress = false

    static let encodings = ["utf-8", "utf8", "windows-1252", "cp1252", "iso-8859-1", "latin1"]

    func validate() throws {
        if let kind, !["contact", "lead"].contains(kind.lowercased()) { throw ValidationError("--kind must be contact or lead") }
        guard ["update", "skip"].contains(onDuplicate.lowercased()) else { throw ValidationError("--on-duplicate must be update or skip") }
        if let encoding, !Self.encodings.contains(encoding.lowercased()) {
            throw ValidationError("--encoding must be utf-8, windows-1252 or iso-8859-1")
        }
        for map in maps where !map.contains("=") {
            throw ValidationError("--map takes 'CSV header=field' (or 'CSV header=' to ignore the column), got '\(map)'")
        }
        guard FileSystem.exists(file) else { throw ValidationError("\(file): no such file") }
        guard let size = FileSystem.size(file), size > 0 else { throw ValidationError("\(file) is empty") }
    }

    func options(sha256: String) -> ImportsV1.UploadOptions {
        var options = ImportsV1.UploadOptions()
        options.fileName = String(file.split(separator: "/").last ?? Substring(file))
        options.kind = kind.map { $0.lowercased() == "lead" ? .lead : .contact } ?? .unspecified
        options.originCampaignID = campaign ?? ""
        options.subscriptionIDs = subscriptions
        options.onDuplicate = onDuplicate.lowercased() == "skip" ? .skip : .update
        for map in maps {
            let separator = map.lastIndex(of: "=")!
            options.columnMap[String(map[..<separator])] = String(map[map.index(after: separator)...]).trimmingWhitespace
        }
        options.ignoreUnknownColumns = ignoreUnknownColumns
        options.validateOnly = validateOnly
        options.sha256 = sha256
        options.encoding = encoding?.lowercased() ?? ""

        return options
    }

    func run() async throws {
        try await withConnection(global, compressing: compress) { connection in
            let size = Double(FileSystem.size(file) ?? 0)
            let sha256 = try ImportClient.sha256(of: file)
            let options = options(sha256: sha256)
            let progress = UploadProgress(name: options.fileName, total: size,
                live: Terminal.isTerminal(Terminal.standardError) && !global.json, quiet: global.json)
            if !progress.live && !global.json {
                Terminal.write(Terminal.standardError, "uploading \(options.fileName) (\(Format.bytes(size)))\n")
            }
            let path = file
            let uploader = Task {
                try await connection.client.upload(file: path, options: options) { sent in progress.update(Double(sent)) }
            }
            let interrupt = Interrupt { uploader.cancel() }
            let job: ImportsV1.ImportJob
            do {
                job = try await uploader.value
                interrupt.stop()
            } catch {
                interrupt.stop()
                progress.end()
                if interrupt.fired {
                    Terminal.write(Terminal.standardError, "upload interrupted; nothing was imported\n")
                    throw ExitCode(Exit.interrupted)
                }
                throw error
            }
            progress.finish()
            if global.json {
                print(job.protoJSON.text)
            } else {
                print(job.id)
                var note = "\(job.id) QUEUED: \(job.fileName), \(Format.count(job.totalRows)) rows"
                if encoding == nil && job.encoding != "utf-8" { note += ", read as \(job.encoding)" }
                note += job.validateOnly ? "; a dry run, starting now" : "; next run at \(Format.nextRun(job.nextRunAt))"
                if !job.sameFileAs.isEmpty {
                    note += "\nnote: the same file (same SHA-256) was uploaded before as \(job.sameFileAs) (importctl status \(job.sameFileAs))"
                }
                Terminal.write(Terminal.standardError, note + "\n")
            }
            if watch {
                let status = try await follow(job.id, connection, json: global.json)
                if status != 0 { throw ExitCode(status) }
            } else if !global.json {
                Terminal.write(Terminal.standardError, "follow it: importctl watch \(job.id)\n")
            }
        }
    }

    /// The file's SHA-256, read in chunks.
}

/// The upload's progress bar on stderr: bytes, percent, rate, ETA, redrawn in place.
final class UploadProgress: Sendable {
    let name: String
    let total: Double
    let live: Bool
    let quiet: Bool
    private let start = Date()
    /// Bytes sent and when the bar was last drawn.
    private let state = Mutex((sent: 0.0, lastDraw: Date.distantPast))

    init(name: String, total: Double, live: Bool, quiet: Bool) {
        self.name = name
        self.total = total
        self.live = live
        self.quiet = quiet
    }

    func update(_ sent: Double) {
        let due = state.withLock { state -> Bool in
            state.sent = sent
            guard live, Date().timeIntervalSince(state.lastDraw) >= 0.1 else { return false }
            state.lastDraw = Date()
            return true
        }
        if due { draw(sent) }
    }

    private func draw(_ sent: Double) {
        let elapsed = max(Date().timeIntervalSince(start), 0.001)
        let rate = sent / elapsed
        let fraction = total > 0 ? sent / total : 1
        let eta = rate > 0 ? (total - sent) / rate : 0
        let width = Terminal.columns(Terminal.standardError)
        var line = "Uploading \(name)  "
        if width >= 100 { line += Format.bar(fraction, width: 24) + "  " }
        line += "\(Int((fraction * 100).rounded(.down)))%  \(Format.bytes(sent))/\(Format.bytes(total))  \(Format.bytes(rate))/s  ETA \(Format.duration(eta))"
        Terminal.write(Terminal.standardError, "\r\u{1B}[2K" + Format.fit(line, max(10, width - 1)))
    }

    /// All bytes sent.
    func finish() {
        let elapsed = Date().timeIntervalSince(start)
        if live {
            draw(total)
            Terminal.write(Terminal.standardError, "\n")
        }
        if !live && !quiet {
            Terminal.write(Terminal.standardError, "uploaded \(Format.bytes(total)) in \(String(format: "%.1f", elapsed))s\n")
        }
    }

    /// Ends the line after a failure.
    func end() {
        if live { Terminal.write(Terminal.standardError, "\n") }
    }
}
