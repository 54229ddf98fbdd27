import LoptCore
import LoptData
import LoptTasks
import Testing

@Suite struct AugmentationTests {
  private func gradient(
    _ task: any TrainingTask, _ parameters: ParameterSet, step: Int = 0
  ) -> (Float, [Float]) {
    var g = parameters.zerosLike()
    let loss = task.lossAndGradient(parameters, step: step, into: &g)
    return (loss, g.flat.scalars)
  }

  @Test(arguments: AugmentationSpec.ReparameterizationLevel.allCases)
  func reparameterisationKeepsTheLossAndScalesTheGradient(
    level: AugmentationSpec.ReparameterizationLevel
  ) throws {
    let inner = try TinySpecs.spec(.imageMLP).makeTask()
    let setting = AugmentationSpec.Reparameterization(level: level, low: 0.01, high: 100)
    let task = ReparameterizedTask(inner, setting: setting, key: RandomKey(seed: 4))
    let s = task.scales.flat.scalars
    if level == .global { #expect(Set(s).count == 1) }
    if level == .tensor { #expect(Set(s).count == inner.layout.count) }
    if level == .parameter { #expect(Set(s).count > inner.layout.count) }
    let w = inner.initialParameters(key: RandomKey(seed: 5))
    let mapped = task.initialParameters(key: RandomKey(seed: 5))  // w ⊘ s
    let (innerLoss, innerGradient) = gradient(inner, w)
    let (loss, g) = gradient(task, mapped)
    #expect(abs(loss - innerLoss) <= 1e-5 * abs(innerLoss))
    let expected = g.indices.map { s[$0] * innerGradient[$0] }
    let largest = expected.map(abs).max()!
    for i in g.indices {
      #expect(abs(g[i] - expected[i]) <= 1e-4 * abs(expected[i]) + 1e-5 * largest)
    }
  }

  @Test func gradientNormalisationGivesUnitGlobalNorm() throws {
    let task = NormalizedGradientTask(try TinySpecs.spec(.imageMLP).makeTask())
    let (_, g) = gradient(task, task.initialParameters(key: RandomKey(seed: 1)))
    let norm = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    #expect(abs(norm - 1) < 1e-5)
  }

  /// `Σⱼ ⟨g, uⱼ⟩ uⱼ` (or with signs) computed from the wrapper's own directions.
  private func projection(
    _ task: SubsampledGradientTask, gradient g: [Float], count: Int, usesSign: Bool
  ) -> [Double] {
    var sum = [Double](repeating: 0, count: g.count)
    var u = [Float](repeating: 0, count: g.count)
    for j in 0..<count {
      u.withUnsafeMutableBufferPointer { task.direction(j, step: 0, into: $0) }
      let dot = zip(g, u).reduce(0) { $0 + Double($1.0) * Double($1.1) }
      let a = usesSign ? (dot > 0 ? 1 : -1) : dot
      for i in g.indices { sum[i] += a * Double(u[i]) }
    }
    return sum
  }

  @Test(arguments: [false, true])
  func subsampledGradientIsTheProjectionOnItsDirections(usesSign: Bool) {
    let inner = DiagonalQuadraticTask()
    let p = inner.initialParameters(key: RandomKey(seed: 2))
    let exact = inner.gradient(at: p)
    for count in [1, 5, 8] {  // dimension 5: K < dim, K = dim, K > dim
      let task = SubsampledGradientTask(
        inner, directions: count, usesSign: usesSign, key: RandomKey(seed: 3))
      let (_, g) = gradient(task, p)
      let expected = projection(task, gradient: exact, count: count, usesSign: usesSign)
      for i in g.indices { #expect(abs(Double(g[i]) - expected[i]) < 1e-5) }
      if count == 1 && !usesSign {
        // One direction: the orthogonal projection, so the residual is orthogonal to u.
        var u = [Float](repeating: 0, count: g.count)
        u.withUnsafeMutableBufferPointer { task.direction(0, step: 0, into: $0) }
        let residual = zip(exact, g).map { $0 - $1 }
        #expect(abs(zip(residual, u).reduce(0) { $0 + $1.0 * $1.1 }) < 1e-5)
      }
    }
  }

  @Test(arguments: [1, 2, 3, 5])
  func staleGradientsComeFromTheParametersOfLagStepsBack(delay: Int) {
    let inner = DiagonalQuadraticTask()
    let task = StaleGradientTask(inner, delay: delay)
    let lag = max(1, delay - 1)
    #expect(task.lag == lag)
    let history = (0..<8).map { inner.initialParameters(key: RandomKey(seed: UInt64($0))) }
    for (t, p) in history.enumerated() {
      let (loss, g) = gradient(task, p, step: t)
      let source = history[max(0, t - lag)]  // the first parameters while the history is short
      #expect(g == inner.gradient(at: source))
      #expect(loss == inner.loss(source, step: t))
    }
  }

  @Test func esGradientIsUnbiasedOnAQuadratic() {
    let inner = DiagonalQuadraticTask()
    let task = ESGradientTask(inner, standardDeviation: 0.05, pairs: 4, key: RandomKey(seed: 11))
    let p = inner.initialParameters(key: RandomKey(seed: 12))
    let exact = inner.gradient(at: p)
    let steps = 2000
    var mean = [Double](repeating: 0, count: exact.count)
    for step in 0..<steps {
      let (loss, g) = gradient(task, p, step: step)
      #expect(loss == inner.loss(p, step: step))
      for i in g.indices { mean[i] += Double(g[i]) / Double(steps) }
    }
    // Each estimate has per-component standard deviation ≈ ‖g‖/√pairs; over 2000 steps the
    // mean's is ≈ ‖g‖/√8000 ≈ 0.011‖g‖, so 0.06‖g‖ is over 5 standard errors.
    let norm = exact.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    for i in exact.indices { #expect(abs(mean[i] - Double(exact[i])) < 0.06 * norm) }
  }

  @Test func bfloat16RoundsTheLossAndGradient() throws {
    let task = BFloat16Task(try TinySpecs.spec(.imageMLP).makeTask())
    let (loss, g) = gradient(task, task.initialParameters(key: RandomKey(seed: 1)))
    #expect(loss.bitPattern & 0xFFFF == 0)
    #expect(g.allSatisfy { $0.bitPattern & 0xFFFF == 0 })
  }

  @Test func reducedBatchTrainsOnAPrefixOfEachBatch() throws {
    var spec = TinySpecs.spec(.imageMLP)
    spec.augmentation.batchFraction = 0.25
    let reduced = try spec.makeTask()
    var single = spec
    single.augmentation = AugmentationSpec()
    let full = try single.makeTask()
    let p = full.initialParameters(key: RandomKey(seed: 1))
    // Different losses (8 of 32 examples) from the same data stream.
    #expect(reduced.loss(p, step: 0) != full.loss(p, step: 0))
    #expect(reduced.loss(p, step: 0) == reduced.loss(p, step: 0))
  }

  @Test func sampledAugmentationsFollowTheProbabilities() {
    let samples = (0..<2000 as Range<UInt64>).map {
      AugmentationSpec.sample(key: RandomKey(seed: $0))
    }
    func rate(_ predicate: (AugmentationSpec) -> Bool) -> Double {
      Double(samples.filter(predicate).count) / Double(samples.count)
    }
    #expect(abs(rate { $0.reparameterization == nil } - 2.0 / 7) < 0.04)
    #expect(abs(rate { $0.reparameterization?.level == .parameter } - 1.0 / 7) < 0.03)
    #expect(abs(rate { $0.batchFraction != nil } - 0.2) < 0.03)
    #expect(abs(rate { $0.esGradient != nil } - 0.08) < 0.02)
    #expect(abs(rate { $0.gradientDelay != nil } - 0.05) < 0.02)
    #expect(samples.compactMap(\.gradientDelay).allSatisfy { (1...7).contains($0) })
  }
}
