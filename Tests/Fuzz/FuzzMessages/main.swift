import ProtoMessages
import RPCCore

/// libFuzzer target: gRPC's message deframing and protobuf-c decoding of the
/// messages a client sends (and the job a server returns), on any bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // As one message body.
    _ = try? ImportsV1.UploadContactsRequest(serializedBytes: bytes)
    _ = try? ImportsV1.ImportJob(serializedBytes: bytes)
    _ = try? ImportsV1.ListImportRowsResponse(serializedBytes: bytes)
    // As a framed stream, in uneven pieces.
    var deframer = MessageDeframer(maxMessageSize: 1 << 16)
    var index = 0
    var step = 1
    while index < bytes.count {
        let end = min(bytes.count, index + step)
        do {
            try deframer.process(bytes[index..<end]) { message in
                if let request = try? ImportsV1.UploadContactsRequest(serializedBytes: message) {
                    // Re-encoding what was decoded must decode again.
                    precondition((try? ImportsV1.UploadContactsRequest(serializedBytes: request.serializedBytes())) != nil)
                }
            }
        } catch {
            break
        }
        index = end
        step = step % 7 + 1
    }
    return 0
}
