// watchbench: live status at scale against a running importd. Opens N
// WatchImport streams to one import over C connections, then measures
//   - how long until every watcher has its first snapshot,
//   - the server's memory per idle watcher (its RSS before and after, /proc),
//   - fan-out: rounds of PauseImport / ResumeImport, each a state change every
//     watcher receives; latency from sending the call to each watcher's receipt.
// Prints one JSON object.
//
//   watchbench --server H:P --token T --import imp_1 --watchers N --connections C --rounds R --pid PID
import Foundation
import H2Transport
import ProtoMessages
import RPCCore
import Synchronization

struct Options {
    var server = "127.0.0.1:50051"
    var token = ""
    var importID = ""
    var watchers = 1000
    var connections = 1
    var rounds = 20
    var pid: Int32 = 0
    /// light: messages handed over on the client's event loop and only their
    /// state read (`GRPCChannel.observe`), so the figures are the server's;
    /// typed: every message decoded by a task per watcher (the Swift client's way).
    var client = "light"
    /// Client event loops the connections share (the server's machine is small).
    var loops = 1

    init() {
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst(), let value = arguments.popFirst() {
            switch flag {
            case "--server": server = value
            case "--token": token = value
            case "--import": importID = value
            case "--watchers": watchers = Int(value) ?? watchers
            case "--connections": connections = Int(value) ?? connections
            case "--rounds": rounds = Int(value) ?? rounds
            case "--pid": pid = Int32(value) ?? 0
            case "--client": client = value
            case "--loops": loops = Int(value) ?? loops
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

/// Arrivals of the state each round waits for.
final class Arrivals: Sendable {
    private let state = Mutex<(firsts: Int, expected: ImportsV1.ImportState?, times: [ContinuousClock.Instant])>((0, nil, []))

    func received(_ job: ImportsV1.ImportJob, first: Bool) {
        received(state: job.state, first: first)
    }

    func received(state jobState: ImportsV1.ImportState, first: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            if first { state.firsts += 1 }
            if !first, jobState == state.expected { state.times.append(now) }
        }
    }

    var firsts: Int { state.withLock { $0.firsts } }
    var count: Int { state.withLock { $0.times.count } }

    func expect(_ wanted: ImportsV1.ImportState) {
        state.withLock {
            $0.expected = wanted
            $0.times.removeAll(keepingCapacity: true)
        }
    }

    func take() -> [ContinuousClock.Instant] { state.withLock { $0.times } }
}

/// One watcher: records every snapshot it receives.
func watch(_ client: ImportsV1.ImportService.Client, _ request: ImportsV1.WatchImportRequest, _ arrivals: Arrivals) async throws {
    try await client.watchImport(request) { updates in
        var first = true
        for try await job in updates {
            arrivals.received(job, first: first)
            first = false
        }
    }
}

/// One watcher, light: each message's `state` (field 2) read from its bytes on
/// the client's loop; no decoding, no task woken per message.
func observe(_ channel: GRPCChannel, _ metadata: Metadata, _ request: ImportsV1.WatchImportRequest, _ arrivals: Arrivals) async throws {
    let first = Atomic<Bool>(true)
    _ = try await channel.observe(method: ImportsV1.ImportService.Method.watchImport, metadata: metadata, request: request.serializedBytes()) { bytes in
        arrivals.received(state: ImportsV1.ImportState(rawValue: Int32(stateField(bytes))), first: first.exchange(false, ordering: .relaxed))
    }
}

/// Field 2 (a varint) of a serialized ImportJob, 0 when absent.
func stateField(_ bytes: [UInt8]) -> Int {
    var i = 0
    func varint() -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return value
    }
    while i < bytes.count {
        let key = varint()
        switch key & 7 {
        case 0:
            let value = varint()
            if key >> 3 == 2 { return Int(value) }
        case 1: i += 8
        case 2: i += Int(varint())
        case 5: i += 4
        default: return 0
        }
    }
    return 0
}

func rssKB(_ pid: Int32) -> Int {
    guard pid > 0, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// CPU seconds `pid` has used (user + system), from /proc.
func cpuSeconds(_ pid: Int32) -> Double {
    guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func waitUntil(_ timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return condition()
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let options = Options()
let (host, portText) = (String(options.server.split(separator: ":").first!), options.server.split(separator: ":").last!)
var metadata = Metadata()
metadata.add("authorization", "Bearer " + options.token)
let loops = (0..<options.loops).map { EventLoop(name: "watchbench-\($0)") }
let channels = (0..<options.connections).map { GRPCChannel(host: host, port: Int(portText)!, eventLoop: loops[$0 % loops.count]) }
let clients = channels.map { ImportsV1.ImportService.Client(RPCClient(transport: $0, defaultMetadata: metadata)) }
var getRequest = ImportsV1.GetImportRequest()
getRequest.importID = options.importID
for client in clients { _ = try await client.getImport(getRequest) }  // connect every channel first
try await Task.sleep(for: .milliseconds(500))
let rssBefore = rssKB(options.pid)

let arrivals = Arrivals()
var watchRequest = ImportsV1.WatchImportRequest()
watchRequest.importID = options.importID
let start = ContinuousClock.now
let request = watchRequest
let light = options.client == "light"
let watchers = (0..<options.watchers).map { i in
    Task { [client = clients[i % clients.count], channel = channels[i % channels.count]] in
        if light { try await observe(channel, metadata, request, arrivals) } else { try await watch(client, request, arrivals) }
    }
}
guard await waitUntil(.seconds(60), { arrivals.firsts == options.watchers }) else {
    fatalError("only \(arrivals.firsts) of \(options.watchers) watchers got a first snapshot")
}
let firstSnapshots = seconds(ContinuousClock.now - start)
try await Task.sleep(for: .seconds(1))
let rssAfter = rssKB(options.pid)

var latencies: [Double] = []
let cpuBefore = cpuSeconds(options.pid)
let clientCPUBefore = cpuSeconds(getpid())
var pause = ImportsV1.PauseImportRequest()
pause.importID = options.importID
var resume = ImportsV1.ResumeImportRequest()
resume.importID = options.importID
for round in 0..<options.rounds {
    let pausing = round % 2 == 0
    arrivals.expect(pausing ? .paused : .queued)
    let sent = ContinuousClock.now
    if pausing { _ = try await clients[0].pauseImport(pause) } else { _ = try await clients[0].resumeImport(resume) }
    guard await waitUntil(.seconds(30), { arrivals.count == options.watchers }) else {
        fatalError("round \(round): \(arrivals.count) of \(options.watchers) watchers got the change")
    }
    latencies += arrivals.take().map { seconds($0 - sent) * 1000 }
    try await Task.sleep(for: .milliseconds(200))
}
let serverCPU = cpuSeconds(options.pid) - cpuBefore
let clientCPU = cpuSeconds(getpid()) - clientCPUBefore
for watcher in watchers { watcher.cancel() }
let sorted = latencies.sorted()
func percentile(_ values: [Double], _ p: Double) -> Double { values[min(values.count - 1, Int(Double(values.count) * p))] }
let result: [String: Any] = [
    "watchers": options.watchers, "connections": options.connections, "rounds": options.rounds, "client": options.client, "client_loops": options.loops,
    "first_snapshots_seconds": firstSnapshots,
    "rss_before_kb": rssBefore, "rss_after_kb": rssAfter,
    "bytes_per_watcher": Double(rssAfter - rssBefore) * 1024 / Double(options.watchers),
    "server_cpu_us_per_delivery": serverCPU * 1e6 / Double(options.rounds * options.watchers),
    "client_cpu_us_per_delivery": clientCPU * 1e6 / Double(options.rounds * options.watchers),
    "p50_ms": percentile(sorted, 0.50), "p99_ms": percentile(sorted, 0.99), "max_ms": sorted.last ?? 0,
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
exit(0)
