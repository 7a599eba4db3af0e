import CProtobufC
import CProtos
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// A nested message type and its protobuf-c struct. Generated code conforms;
/// nothing outside this target sees a protobuf-c struct.
package protocol ProtobufCNested: Sendable {
    associatedtype CMessage
    /// Sets the C struct to its defaults (the generated `__init`).
    static func cInit(_ message: UnsafeMutablePointer<CMessage>)
    /// Reads a C struct that protobuf-c unpacked.
    init(cMessage: UnsafePointer<CMessage>)
    /// Fills a C struct, allocating what it points to in `arena`.
    func fill(_ message: UnsafeMutablePointer<CMessage>, arena: CArena)
}

/// A top-level message: also packs and unpacks itself with protobuf-c.
package protocol ProtobufCMessage: ProtobufCNested, RPCMessage {
    static func cPackedSize(_ message: UnsafePointer<CMessage>) -> Int
    static func cPack(_ message: UnsafePointer<CMessage>, _ out: UnsafeMutablePointer<UInt8>) -> Int
    static func cUnpack(_ count: Int, _ data: UnsafePointer<UInt8>) -> UnsafeMutablePointer<CMessage>?
    static func cFree(_ message: UnsafeMutablePointer<CMessage>)
}

extension ProtobufCMessage {
    public init(serializedBytes bytes: [UInt8]) throws {
        let unpacked: UnsafeMutablePointer<CMessage>? = bytes.withUnsafeBufferPointer { buffer in
            // protobuf-c reads nothing for an empty message, but wants a valid pointer.
            var empty: UInt8 = 0
            guard let base = buffer.baseAddress else { return Self.cUnpack(0, &empty) }
            return Self.cUnpack(buffer.count, base)
        }
        guard let unpacked else { throw MessageDecodingError(typeName: String(describing: Self.self)) }
        defer { Self.cFree(unpacked) }
        self.init(cMessage: unpacked)
    }

    /// Builds the C struct in a scratch arena and gives it, with its packed
    /// size, to `body`; everything is freed when `body` returns.
    private func withCMessage<R>(_ body: (UnsafePointer<CMessage>, Int) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: CArena.scratchSize, alignment: 16) { scratch in
            let arena = CArena(scratch: scratch)
            defer { arena.release() }
            let message = arena.allocate(CMessage.self)
            Self.cInit(message)
            fill(message, arena: arena)
            return body(message, Self.cPackedSize(message))
        }
    }

    public func framedBytes() -> [UInt8] {
        withCMessage { message, size in
            [UInt8](unsafeUninitializedCapacity: MessageFraming.headerSize + size) { buffer, count in
                MessageFraming.writePrefix(length: size, into: &buffer)
                let written = size == 0 ? 0 : Self.cPack(message, buffer.baseAddress! + MessageFraming.headerSize)
                precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
                count = MessageFraming.headerSize + size
            }
        }
    }

    public func serialize(into buffer: inout [UInt8]) {
        withCMessage { message, size in
            guard size > 0 else { return }
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: size))
            buffer.withUnsafeMutableBufferPointer { out in
                let written = Self.cPack(message, out.baseAddress! + start)
                precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
            }
        }
    }
}

/// A bump allocator for one C message tree: every allocation lives until the
/// arena is released, then all of it goes at once. It starts in a caller's
/// scratch buffer (on the stack), so small messages cost no heap allocation.
/// Memory is not zeroed: generated code initialises every struct (`__init`) and
/// writes every array slot.
package final class CArena {
    package static let scratchSize = 2048
    private var blocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0
    private static let blockSize = 8192

    package init(scratch: UnsafeMutableRawBufferPointer) {
        cursor = scratch.baseAddress
        remaining = scratch.count
    }

    /// Frees the heap blocks; the arena's memory must not be used after this.
    package func release() {
        for block in blocks { free(block) }
        blocks.removeAll()
        cursor = nil
        remaining = 0
    }

    private func raw(_ size: Int, alignment: Int) -> UnsafeMutableRawPointer {
        if let cursor {
            let misalignment = Int(bitPattern: cursor) & (alignment - 1)
            let padding = misalignment == 0 ? 0 : alignment - misalignment
            if padding + size <= remaining {
                let pointer = cursor + padding
                self.cursor = pointer + size
                remaining -= padding + size
                return pointer
            }
        }
        if size > Self.blockSize / 4 {
            let block = malloc(max(size, 1))!
            blocks.append(block)
            return block
        }
        let block = malloc(Self.blockSize)!
        blocks.append(block)
        cursor = block + size
        remaining = Self.blockSize - size
        return block
    }

    /// Uninitialised memory for `count` values of `T`.
    package func allocate<T>(_: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        raw(MemoryLayout<T>.stride * count, alignment: max(MemoryLayout<T>.alignment, 8))
            .bindMemory(to: T.self, capacity: count)
    }

    package func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = allocate(CChar.self, count: utf8.count + 1)
            UnsafeMutableRawPointer(pointer).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
            pointer[utf8.count] = 0
            return pointer
        }
    }

    package func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let pointer = allocate(UInt8.self, count: bytes.count)
        bytes.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: bytes.count) }
        return ProtobufCBinaryData(len: bytes.count, data: pointer)
    }

    package func message<M: ProtobufCNested>(_ value: M) -> UnsafeMutablePointer<M.CMessage> {
        let pointer = allocate(M.CMessage.self)
        M.cInit(pointer)
        value.fill(pointer, arena: self)
        return pointer
    }

    package func messageArray<M: ProtobufCNested>(_ values: [M]) -> UnsafeMutablePointer<UnsafeMutablePointer<M.CMessage>?> {
        let array = allocate(UnsafeMutablePointer<M.CMessage>?.self, count: values.count)
        for (i, value) in values.enumerated() {
            array[i] = message(value)
        }
        return array
    }

    package func pointerArray<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
        allocate(UnsafeMutablePointer<T>?.self, count: count)
    }

    package func array<Value, C>(_ values: [Value], _ convert: (Value) -> C) -> UnsafeMutablePointer<C> {
        let array = allocate(C.self, count: values.count)
        for (i, value) in values.enumerated() {
            (array + i).initialize(to: convert(value))
        }
        return array
    }
}

// MARK: - Reading what protobuf-c unpacked

@inline(__always)
func cString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

@inline(__always)
func cBytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let base = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: base, count: data.len))
}

func cArray<C, Value>(_ pointer: UnsafeMutablePointer<C>?, _ count: Int, _ convert: (C) -> Value) -> [Value] {
    guard let pointer, count > 0 else { return [] }
    return (0..<count).map { convert(pointer[$0]) }
}

func cMessages<C, Value>(
    _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ count: Int,
    _ convert: (UnsafeMutablePointer<C>) -> Value
) -> [Value] {
    guard let pointer, count > 0 else { return [] }
    return (0..<count).compactMap { pointer[$0].map(convert) }
}
