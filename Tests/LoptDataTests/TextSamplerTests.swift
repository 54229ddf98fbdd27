import LoptCore
import LoptData
import Testing

@Suite struct TextSamplerTests {
  /// Bytes 0, 1, …, 199, so a window's bytes reveal where it starts.
  let text = (0..<200).map { UInt8($0) }

  func batch(key: UInt64, step: Int) -> Batch {
    let sampler = TextSampler(
      text: text, batchSize: 4, sequenceLength: 16, key: RandomKey(seed: key))
    var batch = sampler.makeBatch()
    sampler.fill(&batch, step: step)
    return batch
  }

  @Test func targetsAreInputsShiftedByOne() {
    let batch = batch(key: 7, step: 3)
    #expect(batch.inputs.shape == [4, 16])
    #expect(batch.targets.shape == [4, 16])
    for b in 0..<4 {
      let start = batch.inputs[flat: 16 * b]
      #expect(start + 16 < 200)
      for t in 0..<16 {
        #expect(batch.inputs[flat: 16 * b + t] == start + Float(t))
        #expect(batch.targets[flat: 16 * b + t] == start + Float(t + 1))
      }
    }
  }

  @Test func batchesDependOnlyOnKeyAndStep() {
    let first = batch(key: 7, step: 3)
    let again = batch(key: 7, step: 3)
    #expect(first.inputs == again.inputs && first.targets == again.targets)
    #expect(batch(key: 7, step: 4).inputs != first.inputs)
    #expect(batch(key: 8, step: 3).inputs != first.inputs)
  }
}
