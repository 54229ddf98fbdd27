import LoptCore

/// Random windows of a byte sequence for next-token prediction.
///
/// Step `s` draws `B` window starts uniformly from `0..<(count − T)` with the key
/// `key.folding(in: s)` (start `b` is element `b` of that key's stream). Each window is
/// `T + 1` bytes: the inputs are its first `T` bytes and the targets its last `T`, so
/// `targets[b, t] == inputs[b, t + 1]`.
public struct TextSampler: BatchSampler {
  /// The bytes windows are drawn from.
  public let text: [UInt8]
  /// The number of sequences per batch.
  public let batchSize: Int
  /// The number of input tokens per sequence, `T`.
  public let sequenceLength: Int
  /// The key whose folds give each step's window starts.
  public let key: RandomKey

  /// Creates a sampler; `text` must hold more than `sequenceLength` bytes.
  public init(text: [UInt8], batchSize: Int, sequenceLength: Int, key: RandomKey) {
    precondition(batchSize > 0 && sequenceLength > 0, "batch size and length must be positive")
    precondition(
      text.count > sequenceLength,
      "text of \(text.count) bytes is too short for sequences of \(sequenceLength) + 1")
    self.text = text
    self.batchSize = batchSize
    self.sequenceLength = sequenceLength
    self.key = key
  }

  /// Allocates a batch: inputs and targets both `[B, T]`.
  public func makeBatch() -> Batch {
    Batch(
      inputs: Tensor(shape: [batchSize, sequenceLength]),
      targets: Tensor(shape: [batchSize, sequenceLength]))
  }

  /// Writes the windows of global step `step` into `batch`.
  ///
  /// - Complexity: O(B × T); allocates nothing.
  public func fill(_ batch: inout Batch, step: Int) {
    precondition(step >= 0, "step must be non-negative, got \(step)")
    precondition(
      batch.inputs.count == batchSize * sequenceLength
        && batch.targets.count == batchSize * sequenceLength,
      "batch does not come from this sampler's makeBatch()")
    let stepKey = key.folding(in: UInt64(step))
    batch.inputs.withUnsafeMutableBufferPointer { copyWindows(stepKey, shift: 0, into: $0) }
    batch.targets.withUnsafeMutableBufferPointer { copyWindows(stepKey, shift: 1, into: $0) }
  }

  /// Writes window `b` of `stepKey`, starting `shift` bytes late, into row `b` of `out`.
  private func copyWindows(
    _ stepKey: RandomKey, shift: Int, into out: UnsafeMutableBufferPointer<Float>
  ) {
    let length = sequenceLength
    text.withUnsafeBufferPointer { bytes in
      for b in 0..<batchSize {
        let start = stepKey.integer(below: bytes.count - length, at: b) + shift
        for t in 0..<length { out[b * length + t] = Float(bytes[start + t]) }
      }
    }
  }
}
