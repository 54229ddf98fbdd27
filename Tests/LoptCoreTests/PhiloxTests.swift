import LoptCore
import Testing

/// One line of Random123's `kat_vectors` for `philox4x32 10`.
struct PhiloxKnownAnswer: Sendable, CustomTestStringConvertible {
  let counter: (UInt32, UInt32, UInt32, UInt32)
  let key: (UInt32, UInt32)
  let expected: [UInt32]

  var testDescription: String { "counter word 0 = \(String(counter.0, radix: 16))" }
}

@Suite struct PhiloxTests {
  static let knownAnswers = [
    PhiloxKnownAnswer(
      counter: (0, 0, 0, 0), key: (0, 0),
      expected: [0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8]),
    PhiloxKnownAnswer(
      counter: (0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF),
      key: (0xFFFF_FFFF, 0xFFFF_FFFF),
      expected: [0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD]),
    PhiloxKnownAnswer(
      counter: (0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344),
      key: (0xA409_3822, 0x299F_31D0),
      expected: [0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1]),
  ]

  @Test(arguments: knownAnswers)
  func matchesRandom123KnownAnswers(_ vector: PhiloxKnownAnswer) {
    let output = Philox4x32.block(counter: vector.counter, key: vector.key)
    #expect([output.0, output.1, output.2, output.3] == vector.expected)
  }

  @Test func keyStreamIsPhiloxOfTheBlockIndex() {
    let key = RandomKey(seed: 0x0123_4567_89AB_CDEF)
    #expect(key.words == (0x89AB_CDEF, 0x0123_4567))
    let blockIndex: UInt64 = 0x1_0000_0002
    let block = key.block(blockIndex)
    let expected = Philox4x32.block(counter: (2, 1, 0, 0), key: key.words)
    #expect(
      [block.0, block.1, block.2, block.3] == [expected.0, expected.1, expected.2, expected.3])
    let words = (0..<4).map { key.bits(at: 4 * 5 + $0) }
    let fifth = key.block(5)
    #expect(words == [fifth.0, fifth.1, fifth.2, fifth.3])
  }
}
