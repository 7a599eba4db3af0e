/// Where a CSV reader gets its bytes: a file, or memory in tests.
public protocol ByteSource {
    /// Appends up to `maxCount` bytes to `buffer`; returns how many (0 at the end).
    mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int
}

/// Bytes in memory.
public struct MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position: Int

    public init(_ bytes: [UInt8], from offset: Int = 0) {
        self.bytes = bytes
        self.position = offset
    }

    public init(_ text: String) {
        self.init(Array(text.utf8))
    }

    public mutating func read(into buffer: inout [UInt8], maxCount: Int) throws -> Int {
        let count = min(maxCount, bytes.count - position)
        buffer.append(contentsOf: bytes[position..<(position + count)])
        position += count
        return count
    }
}
