import CZlib

/// Why gzip data could not be inflated.
public enum GzipError: Error, Equatable, Sendable {
    /// It inflates past `limit` bytes (a zip bomb, or just too big); inflating stopped there.
    case tooLarge(limit: Int)
    /// Not valid gzip data, or cut short.
    case corrupt(String)
}

/// gzip (RFC 1952) over zlib, in memory: what gRPC's `grpc-encoding: gzip` means.
/// Safe to call from any thread; every call has its own zlib stream.
public enum Gzip {
    /// gzip-compresses `bytes` (zlib level 6, its default).
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        let result = deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(result == Z_OK, "deflateInit2 failed (\(result)): out of memory")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
        let produced = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                // deflateBound guarantees the whole output fits: one call finishes.
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate did not finish within deflateBound (\(status))")
                return out.count - Int(stream.avail_out)
            }
        }
        output.removeLast(output.count - produced)
        return output
    }

    /// Inflates gzip `bytes`, refusing to produce more than `limit` bytes: memory
    /// follows what the data really holds, never more than `limit` plus one chunk.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        let result = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(result == Z_OK, "inflateInit2 failed (\(result)): out of memory")
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(max(bytes.count * 4, 4096), 256 << 10))
        var status = Z_OK
        let failure: GzipError? = bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while status != Z_STREAM_END {
                let produced = chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return out.count - Int(stream.avail_out)
                }
                switch status {
                case Z_OK, Z_STREAM_END:
                    break
                case Z_BUF_ERROR where produced == 0:
                    return .corrupt("the gzip data ends early")
                case Z_BUF_ERROR:
                    break
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    return .corrupt(message)
                }
                if output.count + produced > limit { return .tooLarge(limit: limit) }
                output.append(contentsOf: chunk[0..<produced])
                if status != Z_STREAM_END && stream.avail_in == 0 && produced == 0 {
                    return .corrupt("the gzip data ends early")
                }
            }
            return nil
        }
        if let failure { throw failure }
        return output
    }
}
