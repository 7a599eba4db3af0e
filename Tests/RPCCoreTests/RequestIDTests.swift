import RPCCore
import Testing

@Suite struct RequestIDTests {
    private func wellFormed(_ id: String) -> Bool {
        id.count == 18 && id.hasPrefix("r-") && id.dropFirst(2).allSatisfy { "0123456789abcdef".contains($0) }
    }

    @Test func requestIDsAreWellFormedAndNeverRepeatWithinTheProcess() {
        let ids = (0..<100_000).map { _ in RequestID.make() }
        #expect(ids.allSatisfy(wellFormed))
        #expect(Set(ids).count == ids.count)
        // Scrambled, not a visible counter: consecutive ids differ in many digits.
        let differing = zip(ids[0], ids[1]).filter { $0 != $1 }.count
        #expect(differing >= 6)
    }

    @Test func unguessableIDsHaveTheSameShape() {
        let ids = (0..<1000).map { _ in RequestID.makeUnguessable() }
        #expect(ids.allSatisfy(wellFormed))
        #expect(Set(ids).count == ids.count)
    }

    @Test func traceIDsComeFromWellFormedTraceparents() {
        #expect(RequestID.traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(RequestID.traceID("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(RequestID.traceID("garbage") == nil)
    }
}
