import DequeModule

/// A FIFO of bytes, appended as whole arrays and consumed from the front in
/// any sizes. An array is kept, not copied: one update fanned out to
/// thousands of streams is one array they all share until it is written.
struct ByteQueue {
    private var chunks = Deque<[UInt8]>()
    /// Bytes of the first chunk already consumed.
    private var offset = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        chunks.append(bytes)
        count += bytes.count
    }

    /// Gives the first `count` bytes to `body`, in one piece per chunk they
    /// span, then drops them.
    mutating func consume(_ count: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        precondition(count <= self.count)
        var left = count
        while left > 0 {
            let first = chunks[chunks.startIndex]
            let take = min(left, first.count - offset)
            first.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + take)])) }
            left -= take
            offset += take
            if offset == first.count {
                chunks.removeFirst()
                offset = 0
            }
        }
        self.count -= count
    }

    mutating func removeAll() {
        chunks = []
        offset = 0
        count = 0
    }
}
