import Testing

@testable import LoptMeta

@Test func placeholder() { #expect(Bool(true)) }
