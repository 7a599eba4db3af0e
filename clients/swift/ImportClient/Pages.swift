/// Items of a paged list, fetched a page at a time as they are iterated (no
/// page is asked for before its items are wanted).
public struct Pages<Item: Sendable>: AsyncSequence, Sendable {
    public typealias Element = Item
    /// Fetches the page at a token ("" for the first): its items and the next token ("" at the end).
    let fetch: @Sendable (String) async throws -> ([Item], String)

    public init(fetch: @escaping @Sendable (String) async throws -> ([Item], String)) {
        self.fetch = fetch
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(fetch: fetch)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let fetch: @Sendable (String) async throws -> ([Item], String)
        private var items: [Item] = []
        private var index = 0
        /// The next page's token; nil once the last page was fetched.
        private var token: String? = ""

        init(fetch: @escaping @Sendable (String) async throws -> ([Item], String)) {
            self.fetch = fetch
        }

        public mutating func next() async throws -> Item? {
            while index == items.count {
                guard let current = token else { return nil }
                let (page, next) = try await fetch(current)
                items = page
                index = 0
                token = next.isEmpty ? nil : next
            }
            defer { index += 1 }
            return items[index]
        }
    }
}
