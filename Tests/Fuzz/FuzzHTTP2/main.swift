import Foundation
import H2Transport
import ProtoMessages
import RPCCore
import RPCHealth

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer target: a real server connection fed raw bytes after the HTTP/2
/// preface, over loopback. The server (health and one echo method) lives for
/// the whole run; each input is one connection.
nonisolated(unsafe) private var port: Int = {
    let started = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var bound = 0
    Task.detached {
        var router = RPCRouter()
        HealthService().register(on: &router)
        let echo = MethodDescriptor(service: "fuzz.Echo", method: "Echo", kind: .bidirectionalStreaming)
        router.registerBidirectionalStreaming(echo, GrpcHealthV1.HealthCheckRequest.self, GrpcHealthV1.HealthCheckRequest.self) { requests, writer, _ in
            for try await request in requests { try await writer.write(request) }
        }
        var configuration = GRPCServerConfiguration()
        configuration.limits.receiveTimeout = .seconds(1)
        let server = GRPCServer(router: router, configuration: configuration)
        bound = (try? await server.start()) ?? 0
        started.signal()
        try? await Task.sleep(for: .seconds(1_000_000))
        withExtendedLifetime(server) {}
    }
    started.wait()
    precondition(bound > 0, "the fuzz server did not start")
    return bound
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP2(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return 0 }
    var timeout = timeval(tv_sec: 0, tv_usec: 20_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
    _ = preface.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    _ = send(fd, data, size, Int32(MSG_NOSIGNAL))
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    for _ in 0..<3 where buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
    return 0
}
