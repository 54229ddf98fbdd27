import Foundation
import LoptCore
import LoptData
import Testing

@Suite struct CIFAR10Tests {
  /// A record whose red, green and blue planes are 10, 20 and 30, except red 255 at (1, 2).
  func record(label: UInt8) -> [UInt8] {
    var planes =
      [UInt8](repeating: 10, count: 1024) + [UInt8](repeating: 20, count: 1024)
      + [UInt8](repeating: 30, count: 1024)
    planes[1 * 32 + 2] = 255
    return [label] + planes
  }

  @Test func readsRecordsAsHWCInUnitRange() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(record(label: 3) + record(label: 9), to: "data_batch_1.bin")
    let dataset = try CIFAR10.read(contentsOf: url)
    #expect(dataset.images.shape == [2, 32, 32, 3])
    #expect(dataset.labels == [3, 9])
    let scale = CIFAR10.pixelScale
    let pixel00 = (0..<3).map { dataset.images[flat: $0] }
    #expect(pixel00 == [10 * scale, 20 * scale, 30 * scale])
    let pixel12 = (0..<3).map { dataset.images[flat: (1 * 32 + 2) * 3 + $0] }
    #expect(pixel12 == [1, 20 * scale, 30 * scale])
    #expect(dataset.images[flat: 32 * 32 * 3] == 10 * scale)  // image 1, pixel (0, 0), red
  }

  @Test func rejectsPartialRecord() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(record(label: 1) + Array(record(label: 2).prefix(100)), to: "b.bin")
    let error = expectDatasetError(mentioning: url.path) { _ = try CIFAR10.read(contentsOf: url) }
    #expect(error == .truncated(path: url.path, expectedBytes: 6146, foundBytes: 3173))
  }

  @Test func rejectsLabelOutOfRange() throws {
    let folder = try TemporaryDirectory()
    let url = try folder.write(record(label: 1) + record(label: 10), to: "b.bin")
    let error = expectDatasetError(mentioning: url.path) { _ = try CIFAR10.read(contentsOf: url) }
    #expect(error == .labelOutOfRange(path: url.path, index: 1, label: 10, classCount: 10))
  }

  @Test func loadsSplitsFromBatchFiles() throws {
    let folder = try TemporaryDirectory()
    for batch in 1...5 {
      let records = (0..<2).flatMap { record(label: UInt8(2 * (batch - 1) + $0)) }
      try folder.write(records, to: "cifar-10-batches-bin/data_batch_\(batch).bin")
    }
    try folder.write(record(label: 7), to: "cifar-10-batches-bin/test_batch.bin")
    let locator = folder.locator
    // Ten training records with labels 0...9: the last tenth (one record) is `valid`.
    #expect(
      try ImageDataset.load(.cifar10, split: .train, locator: locator).labels == [
        0, 1, 2, 3, 4, 5, 6, 7, 8,
      ])
    #expect(try ImageDataset.load(.cifar10, split: .valid, locator: locator).labels == [9])
    let test = try ImageDataset.load(.cifar10, split: .test, locator: locator)
    #expect(test.labels == [7])
    #expect(test.images.shape == [1, 32, 32, 3])
  }
}
