import LoptCore

/// Shuffled mini-batches of an image data set, epoch by epoch, with drop-remainder.
///
/// Epoch `e` visits the images in the order of the permutation drawn from
/// `key.folding(in: e)`. Each epoch has `⌊N / B⌋` batches: step `s` is batch
/// `s mod ⌊N / B⌋` of epoch `e = ⌊s / ⌊N / B⌋⌋`, and the last `N mod B` images of each
/// epoch's permutation are skipped (a different set each epoch). The permutation is kept in
/// a buffer allocated once and recomputed only when the epoch changes.
public struct MinibatchSampler: BatchSampler {
  /// The data set batches are drawn from.
  public let dataset: ImageDataset
  /// The number of images per batch.
  public let batchSize: Int
  /// The key whose folds give each epoch's permutation.
  public let key: RandomKey
  private let imageSize: Int
  private var permutation: [Int32]
  private var permutationEpoch = -1

  /// Creates a sampler; `batchSize` must be between 1 and the data set's size.
  public init(dataset: ImageDataset, batchSize: Int, key: RandomKey) {
    precondition(
      batchSize > 0 && batchSize <= dataset.count,
      "batch size \(batchSize) must be in 1...\(dataset.count) (the data set size)")
    self.dataset = dataset
    self.batchSize = batchSize
    self.key = key
    imageSize = dataset.images.count / dataset.count
    permutation = [Int32](repeating: 0, count: dataset.count)
  }

  /// The number of batches in one epoch, `⌊N / B⌋`.
  public var batchesPerEpoch: Int { dataset.count / batchSize }

  /// Allocates a batch: inputs `[B, H, W, C]`, targets `[B]`.
  public func makeBatch() -> Batch {
    Batch(
      inputs: Tensor(shape: [batchSize] + dataset.imageShape),
      targets: Tensor(shape: [batchSize]))
  }

  /// Writes the images and labels of global step `step` into `batch`.
  ///
  /// - Complexity: O(B × image size), plus O(N) when `step` is in another epoch than the
  ///   previous call; allocates nothing (unless this sampler was copied since its last
  ///   `fill`, which makes the permutation buffer copy-on-write once).
  public mutating func fill(_ batch: inout Batch, step: Int) {
    precondition(step >= 0, "step must be non-negative, got \(step)")
    precondition(
      batch.inputs.count == batchSize * imageSize && batch.targets.count == batchSize,
      "batch does not come from this sampler's makeBatch()")
    let epoch = step / batchesPerEpoch
    if epoch != permutationEpoch {
      let epochKey = key.folding(in: UInt64(epoch))
      permutation.withUnsafeMutableBufferPointer { epochKey.fillPermutation($0) }
      permutationEpoch = epoch
    }
    let first = (step % batchesPerEpoch) * batchSize
    permutation.withUnsafeBufferPointer { order in
      dataset.images.withUnsafeBufferPointer { images in
        batch.inputs.withUnsafeMutableBufferPointer { inputs in
          for b in 0..<batchSize {
            let source = images.baseAddress! + Int(order[first + b]) * imageSize
            (inputs.baseAddress! + b * imageSize).update(from: source, count: imageSize)
          }
        }
      }
      batch.targets.withUnsafeMutableBufferPointer { targets in
        for b in 0..<batchSize { targets[b] = Float(dataset.labels[Int(order[first + b])]) }
      }
    }
  }
}
