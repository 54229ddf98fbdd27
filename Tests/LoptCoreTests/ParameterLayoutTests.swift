import Foundation
import LoptCore
import Testing

@Suite struct ParameterLayoutTests {
  static let layout = ParameterLayout([
    ("w", [2, 3]), ("b", [3]), ("s", []), ("empty", [0, 4]), ("k", [2, 1, 2, 2]),
  ])

  @Test func entriesAreLaidOutOneAfterAnother() {
    let layout = Self.layout
    #expect(layout.names == ["w", "b", "s", "empty", "k"])
    #expect(layout.entries.map(\.offset) == [0, 6, 9, 10, 10])
    #expect(layout.entries.map(\.count) == [6, 3, 1, 0, 8])
    #expect(layout.entries.map(\.range) == [0..<6, 6..<9, 9..<10, 10..<10, 10..<18])
    #expect(layout.totalCount == 18)
    #expect(layout.count == 5)
    #expect(ParameterLayout([]).totalCount == 0)
  }

  @Test func lookupByName() {
    let layout = Self.layout
    #expect(layout.index(of: "s") == 2)
    #expect(layout.index(of: "missing") == nil)
    #expect(layout.entry(named: "k")?.shape == [2, 1, 2, 2])
    #expect(layout.entry(named: "k")?.offset == 10)
    #expect(layout.entry(named: "missing") == nil)
  }

  @Test func equalityAndCodableRoundTrip() throws {
    let layout = Self.layout
    let decoded = try JSONDecoder().decode(
      ParameterLayout.self, from: JSONEncoder().encode(layout))
    #expect(decoded == layout)
    #expect(
      ParameterLayout([("b", [3]), ("w", [2, 3])]) != ParameterLayout([("w", [2, 3]), ("b", [3])]))
  }
}
