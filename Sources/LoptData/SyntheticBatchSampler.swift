import LoptCore

/// A fixed cycle of random classification batches: standard-normal inputs and uniform labels.
///
/// For measuring speed without a data pipeline (as the JAX peer benchmark does: 16 random
/// batches made once and cycled). Step `s` gives batch `s mod batchCount`.
public struct SyntheticBatchSampler: BatchSampler {
  /// The shape of one example.
  public let exampleShape: [Int]
  /// The number of examples per batch.
  public let batchSize: Int
  private let inputs: Tensor
  private let labels: Tensor

  /// Draws `batchCount` batches of `batchSize` examples with labels in `0..<classCount`.
  public init(
    exampleShape: [Int], classCount: Int, batchSize: Int, batchCount: Int = 16, key: RandomKey
  ) {
    precondition(batchSize > 0 && batchCount > 0 && classCount > 0, "sizes must be positive")
    self.exampleShape = exampleShape
    self.batchSize = batchSize
    var inputs = Tensor(shape: [batchCount * batchSize] + exampleShape)
    inputs.withUnsafeMutableBufferPointer { key.folding(in: 0).fillNormal($0) }
    var labels = Tensor(shape: [batchCount * batchSize])
    let labelKey = key.folding(in: 1)
    labels.withUnsafeMutableBufferPointer { buffer in
      for i in 0..<buffer.count { buffer[i] = Float(labelKey.integer(below: classCount, at: i)) }
    }
    self.inputs = inputs
    self.labels = labels
  }

  /// Allocates a batch: inputs `[B] + exampleShape`, targets `[B]`.
  public func makeBatch() -> Batch {
    Batch(inputs: Tensor(shape: [batchSize] + exampleShape), targets: Tensor(shape: [batchSize]))
  }

  /// Copies batch `step mod batchCount` into `batch`.
  ///
  /// - Complexity: O(batch size); allocates nothing.
  public mutating func fill(_ batch: inout Batch, step: Int) {
    let batchCount = labels.count / batchSize
    let index = step % batchCount
    let exampleCount = batch.inputs.count
    inputs.withUnsafeBufferPointer { source in
      batch.inputs.withUnsafeMutableBufferPointer { destination in
        destination.baseAddress!.update(
          from: source.baseAddress! + index * exampleCount, count: exampleCount)
      }
    }
    labels.withUnsafeBufferPointer { source in
      batch.targets.withUnsafeMutableBufferPointer { destination in
        destination.baseAddress!.update(
          from: source.baseAddress! + index * batchSize, count: batchSize)
      }
    }
  }
}
