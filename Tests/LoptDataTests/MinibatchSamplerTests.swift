import LoptCore
import LoptData
import Testing

@Suite struct MinibatchSamplerTests {
  /// `count` one-pixel images with two channels `[i, -i]` and labels `i % 3`.
  func dataset(count: Int) -> ImageDataset {
    ImageDataset(
      images: Tensor(
        shape: [count, 1, 1, 2], scalars: (0..<count).flatMap { [Float($0), -Float($0)] }),
      labels: (0..<count).map { Int32($0 % 3) }, classCount: 3, pixelScale: 1)
  }

  /// The image indices of the batch at `step`, checking that rows and labels stay together.
  func indices(_ sampler: inout MinibatchSampler, step: Int) -> [Int] {
    var batch = sampler.makeBatch()
    sampler.fill(&batch, step: step)
    let inputs = batch.inputs.scalars
    let indices = (0..<sampler.batchSize).map { Int(inputs[2 * $0]) }
    for (b, index) in indices.enumerated() {
      #expect(inputs[2 * b + 1] == -Float(index))
      #expect(batch.targets[flat: b] == Float(index % 3))
    }
    return indices
  }

  @Test func eachEpochIsAPermutation() {
    var sampler = MinibatchSampler(
      dataset: dataset(count: 12), batchSize: 4, key: RandomKey(seed: 3))
    let epoch0 = (0..<3).flatMap { indices(&sampler, step: $0) }
    let epoch1 = (3..<6).flatMap { indices(&sampler, step: $0) }
    #expect(epoch0.sorted() == Array(0..<12))
    #expect(epoch1.sorted() == Array(0..<12))
    #expect(epoch0 != epoch1)
  }

  @Test func dropsTheRemainderOfEachEpoch() {
    var sampler = MinibatchSampler(
      dataset: dataset(count: 10), batchSize: 3, key: RandomKey(seed: 4))
    #expect(sampler.batchesPerEpoch == 3)
    let epoch0 = (0..<3).flatMap { indices(&sampler, step: $0) }
    #expect(Set(epoch0).count == 9)
    #expect(epoch0.allSatisfy { (0..<10).contains($0) })
  }

  @Test func sameKeyAndStepGiveTheSameBatch() {
    let data = dataset(count: 12)
    var sequential = MinibatchSampler(dataset: data, batchSize: 4, key: RandomKey(seed: 5))
    let all = (0..<8).map { indices(&sequential, step: $0) }
    // A resumed run starts at step 7; random access revisits earlier epochs.
    var resumed = MinibatchSampler(dataset: data, batchSize: 4, key: RandomKey(seed: 5))
    #expect(indices(&resumed, step: 7) == all[7])
    #expect(indices(&resumed, step: 1) == all[1])
    #expect(indices(&resumed, step: 4) == all[4])
  }

  @Test func differentKeysGiveDifferentOrders() {
    let data = dataset(count: 12)
    var first = MinibatchSampler(dataset: data, batchSize: 12, key: RandomKey(seed: 1))
    var second = MinibatchSampler(dataset: data, batchSize: 12, key: RandomKey(seed: 2))
    #expect(indices(&first, step: 0) != indices(&second, step: 0))
  }
}
