import LoptCore
import Testing

@Suite struct ParameterSetTests {
  /// A set whose element `i` is `i`.
  static func counting() -> ParameterSet {
    let layout = ParameterLayoutTests.layout
    return ParameterSet(
      layout: layout, flat: Tensor((0..<layout.totalCount).map(Float.init)))
  }

  @Test func namedViewsReadTheirSliceOfTheFlatBuffer() {
    let parameters = Self.counting()
    #expect(parameters["w"] == Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5]))
    #expect(parameters["b"] == Tensor([6, 7, 8]))
    #expect(parameters["s"] == Tensor(shape: [], repeating: 9))
    #expect(parameters["empty"].shape == [0, 4])
    #expect(parameters["k"].scalars == (10..<18).map(Float.init))
    let entry = parameters.layout.entries[4]
    #expect(parameters[entry] == parameters["k"])
    for index in 0..<parameters.layout.count {
      let name = parameters.layout.entries[index].name
      #expect(
        parameters.withUnsafeBufferPointer(ofTensor: index) { Array($0) }
          == parameters[name].scalars)
    }
  }

  @Test func writingAViewChangesOnlyItsSlice() {
    var parameters = Self.counting()
    parameters["b"] = Tensor([-1, -2, -3])
    parameters.withUnsafeMutableBufferPointer(ofTensor: 2) { $0[0] = 100 }
    var expected = (0..<18).map(Float.init)
    expected.replaceSubrange(6..<10, with: [-1, -2, -3, 100])
    #expect(parameters.flat.scalars == expected)
  }

  @Test func copiesAreIndependent() {
    let original = Self.counting()
    var copy = original
    copy["w"] = Tensor(shape: [2, 3], repeating: 1)
    copy.withUnsafeMutableBufferPointer { $0[17] = -1 }
    #expect(original == Self.counting())
    #expect(copy != original)
  }

  @Test func normalInitialisationIsReproducibleWithTheRequestedSpread() {
    let layout = ParameterLayout([("w", [100, 40]), ("b", [40])])
    let a = ParameterSet(layout: layout, standardDeviation: 0.5, key: RandomKey(seed: 9))
    #expect(a == ParameterSet(layout: layout, standardDeviation: 0.5, key: RandomKey(seed: 9)))
    #expect(a != ParameterSet(layout: layout, standardDeviation: 0.5, key: RandomKey(seed: 10)))
    let scalars = a.flat.scalars.map(Double.init)
    let rms = (scalars.map { $0 * $0 }.reduce(0, +) / Double(scalars.count)).squareRoot()
    #expect(abs(rms - 0.5) < 0.02, "rms \(rms)")
  }

  @Test func zerosLikeFlatInitAndFiniteness() {
    let parameters = Self.counting()
    let zeros = parameters.zerosLike()
    #expect(zeros.layout == parameters.layout)
    #expect(zeros.flat.scalars.allSatisfy { $0 == 0 })
    #expect(zeros.count == 18)
    let fromMatrix = ParameterSet(
      layout: parameters.layout, flat: parameters.flat.reshaped(to: [3, 6]))
    #expect(fromMatrix.flat.shape == [18])
    #expect(fromMatrix == parameters)
    #expect(parameters.isFinite)
    for bad in [Float.nan, .infinity, -.infinity] {
      var broken = parameters
      broken["s"] = Tensor(shape: [], repeating: bad)
      #expect(!broken.isFinite)
    }
    var large = parameters
    large["s"] = Tensor(shape: [], repeating: .greatestFiniteMagnitude)
    #expect(large.isFinite)
    // Past the vectorised blocks' boundaries, with subnormals and −0 (finite).
    var long = ParameterSet(layout: ParameterLayout([("w", [1000])]))
    long["w"] = Tensor(
      shape: [1000], scalars: (0..<1000).map { Float($0 % 3) * .leastNonzeroMagnitude - 0.0 })
    #expect(long.isFinite)
    for index in [0, 63, 64, 70, 959, 960, 999] {
      for bad in [Float.nan, .infinity, -.infinity] {
        var broken = long
        broken.withUnsafeMutableBufferPointer { $0[index] = bad }
        #expect(!broken.isFinite, "\(bad) at \(index)")
      }
    }
  }
}
