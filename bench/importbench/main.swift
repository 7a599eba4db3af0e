// importbench: the import engine alone, in-process on real SQLite. Prints a JSON
// line with the figures.
//
//   importbench FILE [--batch-rows N] [--data-dir DIR] [--database URL]
//       upload FILE (hash, spool, count rows), then import it; the clock is a
//       manual one, moved to the next tick, so no real tick is waited for
//   importbench --parse FILE
//       print every CSV record of FILE as a JSON array of strings (parser checks)
//   importbench --resume --data-dir DIR [--batch-rows N]
//       start on DIR as after a crash (recovery, interrupted imports resume),
//       run what is queued, wait until every import has ended
//
// The crash test kills the first form at random points and finishes with the second.
import Foundation
import ImportEngine
import ImportStorePostgres
import ImportStoreSQLite
import Logging
import Platform

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var batchRows = 10_000
    var keep: String?
    var resume = false
    var parse = false
    var file: String?
    /// PostgreSQL instead of SQLite in the data directory.
    var database: String?

    static func parse() -> Options {
        var options = Options()
        var arguments = Array(CommandLine.arguments.dropFirst())
        while !arguments.isEmpty {
            let argument = arguments.removeFirst()
            switch argument {
            case "--batch-rows": options.batchRows = Int(arguments.removeFirst()) ?? 10_000
            case "--data-dir": options.keep = arguments.removeFirst()
            case "--resume": options.resume = true
            case "--database": options.database = arguments.removeFirst()
            case "--parse": options.parse = true
            default: options.file = argument
            }
        }
        return options
    }
}
let options = Options.parse()
// As importd does (Serve.run): the same allocator settings, the same memory.
Memory.configureForServer()
if options.parse, let file = options.file {
    // The delimiter is detected from the header line, as uploads do.
    let head = try FileReader(path: file)
    var first: [UInt8] = []
    _ = try head.read(into: &first, maxCount: 64 << 10)
    var reader = CSVReader(source: try FileReader(path: file), delimiter: DelimiterDetector.detect(headerBytes: first[...]))
    var out = ""
    while try reader.next() {
        let encoded = try JSONSerialization.data(withJSONObject: reader.fields)
        out += String(decoding: encoded, as: UTF8.self) + "\n"
        if out.utf8.count > 1 << 20 {
            FileHandle.standardOutput.write(Data(out.utf8))
            out = ""
        }
    }
    FileHandle.standardOutput.write(Data(out.utf8))
    exit(0)
}
let batchRows = options.batchRows
let keep = options.keep
let resume = options.resume
guard resume || options.file != nil else {
    FileHandle.standardError.write(Data("usage: importbench FILE [--batch-rows N] [--data-dir DIR] [--database URL] | --resume --data-dir DIR\n".utf8))
    exit(2)
}

let directory = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("importbench-\(UUID().uuidString)").path
try FileSystem.createDirectory(directory)
defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }

let clock = ManualClock(now: WallTime(seconds: 1_767_607_620))
let store: any ImportStore
if let database = options.database {
    store = try PostgresImportStore(PostgresStoreConfiguration(conninfo: database))
} else {
    store = try SQLiteImportStore(path: directory + "/importd.sqlite")
}
var configuration = ImporterConfiguration(spoolDirectory: directory + "/spool")
configuration.batchRows = batchRows
var logger = Logger(label: "importbench")
logger.logLevel = .warning
let importer = Importer(store: store, clock: clock, configuration: configuration, logger: logger)
try await importer.start()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

var uploadSeconds = 0.0
if !resume {
    let uploadStart = ContinuousClock.now
    let session = try await importer.beginUpload(UploadRequest())
    let reader = try FileReader(path: options.file!)
    var chunk: [UInt8] = []
    while true {
        chunk.removeAll(keepingCapacity: true)
        guard try reader.read(into: &chunk, maxCount: 1 << 20) > 0 else { break }
        try await session.append(chunk)
    }
    _ = try await session.finish()
    uploadSeconds = seconds(ContinuousClock.now - uploadStart)
    FileHandle.standardOutput.write(Data("uploaded\n".utf8))
}

// Import: move the clock to the tick and wait until nothing is left to do.
let importStart = ContinuousClock.now
while clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
clock.advance(to: await importer.nextTick)
while true {
    let active = try await store.importJobs(states: [.queued, .running], beforeID: .max, limit: 1)
    if active.isEmpty { break }
    try await Task.sleep(for: .milliseconds(20))
}
let importSeconds = seconds(ContinuousClock.now - importStart)
await importer.shutdown()
guard let done = try await store.importJobs(states: [], beforeID: .max, limit: 1).first else {
    print("{\"imports\": 0}")
    exit(0)
}

// Bytes this process wrote (WAL, database, spool), from /proc.
let io = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
let writeBytes = io.split(separator: "\n").first { $0.hasPrefix("write_bytes:") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let result: [String: Any] = [
    "imports": 1, "rows": done.totalRows, "processed": done.processedRows, "bytes": done.bytes, "state": done.state.description,
    "created": done.created, "updated": done.updated, "skipped": done.skipped, "failed": done.failed,
    "upload_seconds": uploadSeconds, "import_seconds": importSeconds,
    "rows_per_second": Double(done.processedRows) / importSeconds, "peak_rss_mb": Double(usage.ru_maxrss) / 1024,
    "written_mb": writeBytes / 1e6,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
