import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Whether a content-type is gRPC's: `application/grpc`, optionally `+proto` or `;...`.
func isGRPCContentType(_ value: UnsafeRawBufferPointer) -> Bool {
    let grpc: StaticString = "application/grpc"
    guard value.count >= grpc.utf8CodeUnitCount,
        UnsafeRawBufferPointer(rebasing: value[0..<grpc.utf8CodeUnitCount]).equals(grpc)
    else { return false }
    if value.count == grpc.utf8CodeUnitCount { return true }
    let next = value[grpc.utf8CodeUnitCount]
    return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
}

extension UnsafeRawBufferPointer {
    /// Compares with an ASCII string without allocating.
    func equals(_ string: StaticString) -> Bool {
        guard count == string.utf8CodeUnitCount else { return false }
        guard let base = baseAddress else { return count == 0 }
        return memcmp(base, string.utf8Start, count) == 0
    }

    var string: String { String(decoding: self, as: UTF8.self) }
}
