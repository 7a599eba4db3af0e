import ImportEngine
import SQLiteDB

extension SQLiteImportStore {
    /// Counts by state and outcome, on the reader connection (one index scan and one table scan of imports).
    public func statistics() async throws -> StoreStatistics {
        try await reader.run { db in
            var byState: [ImportState: Int64] = [:]
            for (state, count) in try db.prepare("SELECT state, COUNT(*) FROM imports GROUP BY state").query([], { ($0.int(0), $0.int64(1)) }) {
                if let state = ImportState(rawValue: state) { byState[state] = count }
            }
            let totals: [Int64] = try db.prepare(
                "SELECT COALESCE(SUM(created),0), COALESCE(SUM(updated),0), COALESCE(SUM(skipped),0), COALESCE(SUM(failed),0) FROM imports"
            ).query { [$0.int64(0), $0.int64(1), $0.int64(2), $0.int64(3)] }.first ?? [0, 0, 0, 0]
            let running = try db.prepare("SELECT id, processed_rows FROM imports WHERE state = ? LIMIT 1")
                .query([.integer(Int64(ImportState.running.rawValue))]) { (id: $0.int64(0), processedRows: $0.int64(1)) }.first
            return StoreStatistics(
                importsByState: byState,
                rowsByOutcome: ["created": totals[0], "updated": totals[1], "skipped": totals[2], "failed": totals[3]],
                running: running)
        }
    }
}
