import Foundation
import Testing

/// Each C library stays behind its one owner: a new file that imports it
/// directly fails here, so the unsafe calls cannot spread again.
@Suite struct CInteropOwnershipTests {
    static let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")

    /// Swift files under Sources that import `module`, relative to Sources.
    static func importers(of module: String) throws -> [String] {
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        var found: [String] = []
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            if text.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "import \(module)" }) {
                found.append(String(url.path.dropFirst(sources.path.count + 1)))
            }
        }
        return found.sorted()
    }

    @Test func nghttp2HasOneOwner() throws {
        #expect(try Self.importers(of: "CNGHTTP2") == ["H2Transport/NGHTTP2Session.swift"])
    }

    @Test func sqliteStaysInItsWrapper() throws {
        #expect(try Self.importers(of: "CSQLite").allSatisfy { $0.hasPrefix("SQLiteDB/") })
    }

    @Test func libpqStaysInItsWrapper() throws {
        let importers = try Self.importers(of: "CLibPQ")
        #expect(!importers.isEmpty && importers.allSatisfy { $0.hasPrefix("PostgresDB/") })
    }

    @Test func protobufCStaysInProtoMessages() throws {
        let importers = try Self.importers(of: "CProtobufC") + Self.importers(of: "CProtos")
        #expect(!importers.isEmpty)
        #expect(importers.allSatisfy { $0.hasPrefix("ProtoMessages/") })
    }
}
