// streambench: the streaming side of grpc.testing.BenchmarkService against any
// server of it (our interop-server, the C++ peer), the same client for both.
// Prints one JSON object.
//
//   streambench --server H:P --mode server [--streams N] [--seconds S] [--size B]
//       StreamingFromServer on N streams of one connection, responses of B
//       payload bytes taken on the client's event loop (`GRPCChannel.observe`,
//       nothing decoded) for S seconds: messages/s.
//   streambench --server H:P --mode client [--megabytes M] [--message B]
//       StreamingFromClient of M MiB in requests of B payload bytes: MB/s.
import Foundation
import H2Transport
import ProtoMessages
import RPCCore
import Synchronization

struct Options {
    var server = "127.0.0.1:50051"
    var mode = "server"
    var streams = 4
    var seconds = 5.0
    var size = 16
    var megabytes = 1024
    var message = 64 << 10

    init() {
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst(), let value = arguments.popFirst() {
            switch flag {
            case "--server": server = value
            case "--mode": mode = value
            case "--streams": streams = Int(value) ?? streams
            case "--seconds": seconds = Double(value) ?? seconds
            case "--size": size = Int(value) ?? size
            case "--megabytes": megabytes = Int(value) ?? megabytes
            case "--message": message = Int(value) ?? message
            default: fatalError("unknown flag \(flag)")
            }
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let options = Options()
let (host, portText) = (String(options.server.split(separator: ":").first!), options.server.split(separator: ":").last!)
let loop = EventLoop(name: "streambench")
let channel = GRPCChannel(host: host, port: Int(portText)!, eventLoop: loop)
let client = GrpcTesting.BenchmarkService.Client(RPCClient(transport: channel))
var result: [String: Any] = ["mode": options.mode]

switch options.mode {
case "server":
    var request = GrpcTesting.SimpleRequest()
    request.responseSize = Int32(options.size)
    _ = try await client.unaryCall(request)  // connected before the clock starts
    let received = Atomic<Int>(0)
    let bytes = request.serializedBytes()
    let streams = (0..<options.streams).map { _ in
        Task {
            _ = try? await channel.observe(method: GrpcTesting.BenchmarkService.Method.streamingFromServer, metadata: [:], request: bytes) { _ in
                received.add(1, ordering: .relaxed)
            }
        }
    }
    // Counted over a window that starts once the streams run.
    try await Task.sleep(for: .milliseconds(500))
    let before = received.load(ordering: .relaxed)
    let start = ContinuousClock.now
    try await Task.sleep(for: .seconds(options.seconds))
    let count = received.load(ordering: .relaxed) - before
    let elapsed = seconds(ContinuousClock.now - start)
    for stream in streams { stream.cancel() }
    result["streams"] = options.streams
    result["response_size"] = options.size
    result["messages_per_second"] = Double(count) / elapsed
case "client":
    var payload = GrpcTesting.Payload()
    payload.body = [UInt8](repeating: 0, count: options.message)
    var chunk = GrpcTesting.SimpleRequest()
    chunk.payload = payload
    let request = chunk
    let total = options.megabytes << 20
    let count = (total + options.message - 1) / options.message
    let start = ContinuousClock.now
    _ = try await client.streamingFromClient { writer in
        for _ in 0..<count { try await writer.write(request) }
    }
    let elapsed = seconds(ContinuousClock.now - start)
    result["bytes"] = count * options.message
    result["message_size"] = options.message
    result["seconds"] = elapsed
    result["megabytes_per_second"] = Double(count * options.message) / elapsed / 1e6
default:
    fatalError("--mode server or client")
}
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
exit(0)
