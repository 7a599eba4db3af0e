import CNGHTTP2
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Header lists that every call sends, built once and kept for the life of the
/// process, so nghttp2 can use them without copying (NO_COPY flags).
enum StaticHeaders {
    /// `:status 200`, `content-type application/grpc`.
    nonisolated(unsafe) static let response = make([(":status", "200"), ("content-type", "application/grpc")])
    /// `grpc-status 0`.
    nonisolated(unsafe) static let trailersOK = make([("grpc-status", "0")])
    /// A Trailers-Only OK response.
    nonisolated(unsafe) static let trailersOnlyOK = make([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "0")])

    private static func make(_ fields: [(String, String)]) -> (UnsafeMutablePointer<nghttp2_nv>, Int) {
        let nvs = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: fields.count)
        for (i, (name, value)) in fields.enumerated() {
            let n = strdup(name)!
            let v = strdup(value)!
            nvs[i] = nghttp2_nv(
                name: UnsafeMutableRawPointer(n).assumingMemoryBound(to: UInt8.self),
                value: UnsafeMutableRawPointer(v).assumingMemoryBound(to: UInt8.self),
                namelen: name.utf8.count, valuelen: value.utf8.count,
                flags: UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue))
        }
        return (nvs, fields.count)
    }
}

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

/// Builds nghttp2 header fields over one contiguous buffer for the duration of a
/// submit call (nghttp2 copies them).
func withHeaderFields<R>(_ fields: [(name: String, value: String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
    var bytes: [UInt8] = []
    var offsets: [(Int, Int, Int, Int)] = []
    offsets.reserveCapacity(fields.count)
    for field in fields {
        let nameStart = bytes.count
        bytes.append(contentsOf: field.name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: field.value.utf8)
        offsets.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
    }
    if bytes.isEmpty { bytes.append(0) }
    return bytes.withUnsafeMutableBufferPointer { buffer in
        let base = buffer.baseAddress!
        let nvs = offsets.map { nameStart, nameLength, valueStart, valueLength in
            nghttp2_nv(name: base + nameStart, value: base + valueStart, namelen: nameLength, valuelen: valueLength,
                flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        return nvs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }
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
