import Foundation
import LoptCore
import LoptData
import Testing

/// Checks the data shipped in LoptData's resources against the facts in the data README.
@Suite struct ShippedDataTests {
  let locator = DataLocator(roots: [
    DataLocator.Root(directory: DataLocator.shippedDirectory!, origin: "shipped")
  ])

  func idx(_ file: String) throws -> IDXArray {
    try IDXArray(contentsOf: locator.url(for: file))
  }

  @Test func digitsFilesHaveTheOfficialSplit() throws {
    let trainImages = try idx("digits/train-images-8x8-idx3-ubyte.gz")
    #expect(trainImages.shape == [1437, 8, 8])
    #expect((0..<8).map { trainImages[flat: $0] } == [0, 0, 5, 13, 9, 1, 0, 0])
    #expect(try idx("digits/test-images-8x8-idx3-ubyte.gz").shape == [360, 8, 8])
    #expect(try idx("digits/train-labels-idx1-ubyte.gz").shape == [1437])
  }

  @Test func digitsSplitsAndLabelCounts() throws {
    let train = try ImageDataset.load(.digits, split: .train, locator: locator)
    let valid = try ImageDataset.load(.digits, split: .valid, locator: locator)
    let test = try ImageDataset.load(.digits, split: .test, locator: locator)
    #expect((train.count, valid.count, test.count) == (1294, 143, 360))
    #expect(train.images.shape == [1294, 8, 8, 1])
    #expect(train.pixelScale == 0.0625)
    #expect(train.images[flat: 2] == 0.3125)  // 5 / 16
    #expect(train.images.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(
      classCounts(train.labels + valid.labels) == [
        143, 146, 142, 146, 144, 145, 144, 143, 141, 143,
      ])
    #expect(classCounts(valid.labels) == [15, 15, 14, 14, 14, 14, 14, 15, 14, 14])
    #expect(classCounts(test.labels) == [35, 36, 35, 37, 37, 37, 37, 36, 33, 37])
  }

  @Test func fashion8Shapes() throws {
    #expect(try idx("fashion-mnist/train-images-8x8-idx3-ubyte.gz").shape == [60000, 8, 8])
    #expect(try idx("fashion-mnist/t10k-images-16x16-idx3-ubyte.gz").shape == [10000, 16, 16])
    let train = try ImageDataset.load(.fashion8, split: .train, locator: locator)
    #expect(train.images.shape == [54000, 8, 8, 1])
    #expect(Array(train.labels.prefix(10)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    #expect(classCounts(train.labels).allSatisfy { $0 > 5000 && $0 < 6000 })
    let test = try ImageDataset.load(.fashion8, split: .test, locator: locator)
    #expect(classCounts(test.labels) == [Int](repeating: 1000, count: 10))
  }

  @Test func mnistLabelCountsMatchTheReadme() throws {
    let train = try idx("mnist/train-labels-idx1-ubyte.gz")
    let labels = (0..<train.count).map { Int32(train[flat: $0]) }
    #expect(classCounts(labels) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    #expect(try idx("mnist/train-images-8x8-idx3-ubyte.gz").shape == [60000, 8, 8])
    #expect(try idx("mnist/train-images-16x16-idx3-ubyte.gz").shape == [60000, 16, 16])
  }

  /// The 8×8 files round 4×4 block means of the padded 28×28 images once; halving the 16×16
  /// files rounds twice, so the two may differ by at most one grey level.
  @Test func mnist8IsTheHalvedMnist16() throws {
    let mnist16 = try ImageDataset.load(.mnist16, split: .test, locator: locator)
    let mnist8 = try ImageDataset.load(.mnist8, split: .test, locator: locator)
    #expect(classCounts(mnist8.labels) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    #expect(mnist8.labels == mnist16.labels)
    let halved = mnist16.resized(height: 8, width: 8).images
    #expect(halved.shape == mnist8.images.shape)
    let worst = zip(halved.scalars, mnist8.images.scalars).map { abs($0 - $1) }.max() ?? .nan
    #expect(worst <= 1 / 255 + 1e-6)
  }

  @Test func austenSmallSlices() throws {
    let corpus = try TextCorpus.load(.austenSmall, locator: locator)
    #expect(corpus.train.count == 684_768)
    #expect(corpus.valid.count == 200_000)
    #expect(corpus.train.starts(with: Array("PRIDE AND PREJUDICE\n\nBy Jane Austen".utf8)))
    #expect(corpus.valid.starts(with: Array("Persuasion\n\n\nby\n\nJane Austen".utf8)))
  }
}
