import Foundation
import LoptCore
import LoptData
import Testing

@Suite struct DataLocatorTests {
  @Test func explicitFolderComesBeforeEnvironmentThenShippedData() throws {
    let explicit = try TemporaryDirectory()
    let environment = try TemporaryDirectory()
    for folder in [explicit, environment] { try folder.write([1], to: "text/a.txt") }
    let both = DataLocator(
      directory: explicit.url.path, environment: ["LOPT_DATA_DIR": environment.url.path])
    #expect(try both.url(for: "text/a.txt").path.hasPrefix(explicit.url.path))
    let variableOnly = DataLocator(environment: ["LOPT_DATA_DIR": environment.url.path])
    #expect(try variableOnly.url(for: "text/a.txt").path.hasPrefix(environment.url.path))
    let shipped = try #require(DataLocator.shippedDirectory)
    #expect(
      try variableOnly.url(for: "digits/test-labels-idx1-ubyte.gz").path.hasPrefix(shipped.path))
  }

  @Test func defaultOrderSkipsAnEmptyVariable() throws {
    let locator = DataLocator(environment: ["LOPT_DATA_DIR": ""])
    #expect(
      locator.roots.map(\.directory.path) == [
        try #require(DataLocator.shippedDirectory).path, DataLocator.systemDirectory,
      ])
  }

  @Test func missingFileListsEveryPlaceSearched() throws {
    let first = try TemporaryDirectory()
    let second = try TemporaryDirectory()
    let locator = DataLocator(
      directory: first.url.path, environment: ["LOPT_DATA_DIR": second.url.path])
    let file = "mnist/t10k-images-idx3-ubyte.gz"
    let error = expectDatasetError(mentioning: file) {
      _ = try ImageDataset.load(.mnist, split: .test, locator: locator)
    }
    let searched = locator.roots.map {
      "\($0.directory.appendingPathComponent(file).path) (\($0.origin))"
    }
    #expect(error == .fileNotFound(file: file, searched: searched))
    #expect(searched.count == 4)
    for place in searched { #expect(error?.description.contains(place) == true) }
    #expect(error?.description.contains("LOPT_DATA_DIR") == true)
  }

  /// Writes digits files of `imageCount` 8×8 images and the given labels into a folder.
  func digitsFolder(imageCount: Int, labels: [UInt8]) throws -> TemporaryDirectory {
    let folder = try TemporaryDirectory()
    try folder.write(
      idxBytes(
        type: 0x08, shape: [imageCount, 8, 8],
        payload: [UInt8](repeating: 16, count: imageCount * 64)),
      to: "digits/test-images-8x8-idx3-ubyte.gz")
    try folder.write(
      idxBytes(type: 0x08, shape: [labels.count], payload: labels),
      to: "digits/test-labels-idx1-ubyte.gz")
    return folder
  }

  @Test func loadsPlainIDXFilesFromAFolder() throws {
    let folder = try digitsFolder(imageCount: 2, labels: [4, 2])
    let dataset = try ImageDataset.load(.digits, split: .test, locator: folder.locator)
    #expect(dataset.labels == [4, 2])
    #expect(dataset.images == Tensor(shape: [2, 8, 8, 1], repeating: 1))
  }

  @Test func fullSizeFashionUsesTheDebianFileNames() throws {
    let folder = try TemporaryDirectory()
    try folder.write(
      gzipStored(
        idxBytes(type: 0x08, shape: [1, 28, 28], payload: [UInt8](repeating: 255, count: 784))),
      to: "fashion-mnist/t10k-images-idx3-ubyte.gz")
    try folder.write(
      gzipStored(idxBytes(type: 0x08, shape: [1], payload: [8])),
      to: "fashion-mnist/t10k-labels-idx1-ubyte.gz")
    let dataset = try ImageDataset.load(.fashion, split: .test, locator: folder.locator)
    #expect(dataset.labels == [8])
    #expect(dataset.images == Tensor(shape: [1, 28, 28, 1], repeating: 1))
  }

  @Test func rejectsLabelCountDifferentFromImageCount() throws {
    let folder = try digitsFolder(imageCount: 3, labels: [1, 2])
    let labels = folder.url.appendingPathComponent("digits/test-labels-idx1-ubyte.gz").path
    let error = expectDatasetError(mentioning: labels) {
      _ = try ImageDataset.load(.digits, split: .test, locator: folder.locator)
    }
    guard case .shapeMismatch(labels, let expected, "uint8 [2]") = error else {
      Issue.record("expected a shape mismatch on the labels, got \(String(describing: error))")
      return
    }
    #expect(expected.hasPrefix("uint8 [3]"))
  }

  @Test func rejectsImagesOfTheWrongSize() throws {
    let folder = try TemporaryDirectory()
    try folder.write(
      idxBytes(type: 0x08, shape: [1, 4, 4], payload: [UInt8](repeating: 0, count: 16)),
      to: "digits/test-images-8x8-idx3-ubyte.gz")
    try folder.write(
      idxBytes(type: 0x08, shape: [1], payload: [0]), to: "digits/test-labels-idx1-ubyte.gz")
    let images = folder.url.appendingPathComponent("digits/test-images-8x8-idx3-ubyte.gz").path
    let error = expectDatasetError(mentioning: images) {
      _ = try ImageDataset.load(.digits, split: .test, locator: folder.locator)
    }
    #expect(
      error == .shapeMismatch(path: images, expected: "uint8 [N, 8, 8]", found: "uint8 [1, 4, 4]"))
  }

  @Test func rejectsLabelOutOfRange() throws {
    let folder = try digitsFolder(imageCount: 2, labels: [3, 12])
    let labels = folder.url.appendingPathComponent("digits/test-labels-idx1-ubyte.gz").path
    let error = expectDatasetError(mentioning: labels) {
      _ = try ImageDataset.load(.digits, split: .test, locator: folder.locator)
    }
    #expect(error == .labelOutOfRange(path: labels, index: 1, label: 12, classCount: 10))
  }
}
