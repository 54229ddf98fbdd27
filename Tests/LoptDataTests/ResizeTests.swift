import LoptCore
import LoptData
import LoptTestSupport
import Testing

@Suite struct ResizeTests {
  /// Resizes one image given as `[H, W, C]` values.
  func resize(_ shape: [Int], _ values: [Float], to height: Int, _ width: Int) -> Tensor {
    ImageDataset(
      images: Tensor(shape: [1] + shape, scalars: values), labels: [0], classCount: 1,
      pixelScale: 1
    ).resized(height: height, width: width).images
  }

  @Test func shrinkingByTwoAveragesBlocks() {
    let image = (0..<16).map(Float.init)  // 4×4, row-major
    expectClose(
      resize([4, 4, 1], image, to: 2, 2),
      Tensor(shape: [1, 2, 2, 1], scalars: [2.5, 4.5, 10.5, 12.5]))
  }

  @Test func shrinkingByAFractionWeightsByOverlap() {
    // Output pixel 0 covers input [0, 1.5): (3 + 6 / 2) / 1.5 = 4; pixel 1: (6 / 2 + 9) / 1.5.
    expectClose(
      resize([1, 3, 1], [3, 6, 9], to: 1, 2), Tensor(shape: [1, 1, 2, 1], scalars: [4, 8]))
  }

  @Test func channelsAreResizedSeparately() {
    expectClose(
      resize([2, 2, 2], [1, 10, 2, 20, 3, 30, 4, 40], to: 1, 1),
      Tensor(shape: [1, 1, 1, 2], scalars: [2.5, 25]))
  }

  @Test func enlargingIsBilinearWithHalfPixelCentres() {
    // Along each axis, 2 → 4 samples the input at -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]:
    // weights on the second pixel 0, 0.25, 0.75, 1. Rows add 2 × that, columns 1 × that.
    expectClose(
      resize([2, 2, 1], [0, 1, 2, 3], to: 4, 4),
      Tensor(
        shape: [1, 4, 4, 1],
        scalars: [
          0, 0.25, 0.75, 1,
          0.5, 0.75, 1.25, 1.5,
          1.5, 1.75, 2.25, 2.5,
          2, 2.25, 2.75, 3,
        ]))
  }

  @Test func sameSizeIsTheIdentity() {
    let values: [Float] = [0.1, 0.7, 0.3, 0.9, 0.5, 0.2]
    #expect(resize([2, 3, 1], values, to: 2, 3) == Tensor(shape: [1, 2, 3, 1], scalars: values))
  }
}
