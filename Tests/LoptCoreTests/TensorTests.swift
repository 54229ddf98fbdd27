import LoptCore
import Testing

@Suite struct TensorTests {
  @Test func shapesCountsAndScalars() {
    let matrix = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(matrix.count == 6)
    #expect(matrix.rank == 2)
    #expect(matrix[flat: 4] == 5)
    #expect(Tensor(shape: [], repeating: 7).scalars == [7])
    #expect(Tensor(shape: [3, 0]).count == 0)
    #expect(Tensor(shape: [2, 2], repeating: 0.5).scalars == [0.5, 0.5, 0.5, 0.5])
    #expect(Tensor([1, 2]).shape == [2])
    #expect(matrix.description == "Tensor(shape: [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])")
  }

  @Test func mutatingACopyLeavesTheOriginal() {
    let original = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
    var copy = original
    copy[flat: 1] = 20
    copy.withUnsafeMutableBufferPointer { $0[3] = 40 }
    #expect(original.scalars == [1, 2, 3, 4])
    #expect(copy.scalars == [1, 20, 3, 40])
    var reshaped = original.reshaped(to: [4])
    reshaped[flat: 0] = -1
    #expect(original.scalars == [1, 2, 3, 4])
    #expect(reshaped.scalars == [-1, 2, 3, 4])
  }

  @Test func reshapeKeepsRowMajorElements() {
    let tensor = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let reshaped = tensor.reshaped(to: [3, 1, 2])
    #expect(reshaped.shape == [3, 1, 2])
    #expect(reshaped.scalars == tensor.scalars)
    #expect(Tensor(shape: [], repeating: 3).reshaped(to: [1, 1]).shape == [1, 1])
  }

  @Test func equalityComparesShapesAndElements() {
    let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(a == Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
    #expect(a != a.reshaped(to: [3, 2]))
    #expect(a != Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 7]))
    #expect(Tensor([0]) == Tensor([-0.0]))
    let withNaN = Tensor([1, .nan])
    let sameStorage = withNaN
    #expect(withNaN != sameStorage)
    #expect(withNaN != Tensor([1, .nan]))
  }
}
