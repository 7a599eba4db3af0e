/// A FIFO of bytes: appended at the back, consumed from the front, storage reused.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append(_ bytes: [UInt8]) {
        if head > 0 && head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        }
        storage.append(contentsOf: bytes)
    }

    /// Gives the first `count` bytes to `body`, then drops them.
    mutating func consume<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(count <= self.count)
        let result = storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[head..<(head + count)])) }
        head += count
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            head = 0
        } else if head >= 1 << 16 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return result
    }

    mutating func removeAll() {
        storage = []
        head = 0
    }
}
