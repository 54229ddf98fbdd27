import Foundation
import LoptData

/// Loaded (and resized) data sets, shared by every task built in this process.
///
/// Meta-training builds many tasks on the same few data sets; reading and resizing them once
/// keeps task construction cheap. Entries are immutable values, so sharing them is safe.
final class TaskData: @unchecked Sendable {
  /// The process-wide cache.
  static let shared = TaskData()

  private let lock = NSLock()
  private var images: [String: ImageDataset] = [:]
  private var texts: [String: TextCorpus] = [:]

  /// A split of `name` resized to `size × size`, loaded once per locator.
  func images(
    _ name: ImageDatasetName, split: DatasetSplit, size: Int, locator: DataLocator
  ) throws -> ImageDataset {
    let key = "\(name.rawValue)/\(split.rawValue)/\(size)/\(locator.roots.map(\.directory.path))"
    if let cached = lock.withLock({ images[key] }) { return cached }
    var dataset = try ImageDataset.load(name, split: split, locator: locator)
    if dataset.imageShape[0] != size || dataset.imageShape[1] != size {
      dataset = dataset.resized(height: size, width: size)
    }
    lock.withLock { images[key] = dataset }
    return dataset
  }

  /// A text corpus, loaded once per locator.
  func text(_ name: TextCorpusName, locator: DataLocator) throws -> TextCorpus {
    let key = "\(name.rawValue)/\(locator.roots.map(\.directory.path))"
    if let cached = lock.withLock({ texts[key] }) { return cached }
    let corpus = try TextCorpus.load(name, locator: locator)
    lock.withLock { texts[key] = corpus }
    return corpus
  }
}
