import LoptCore
import LoptData
import Testing

@testable import LoptTasks

/// Whole-model finite-difference checks: each family's `lossAndGradient` against central
/// differences of its training-mode `loss` on the same batch, with the same dropout and
/// sampling keys (both use the step's key), at batch 2.
///
/// Per parameter tensor the check differentiates along two unit directions inside the tensor:
/// the analytic gradient's own direction ĝ (along which a wrong gradient cannot hide: the
/// derivative is true∇·ĝ, which equals |g| only if g is right in that direction) and ĝ mixed
/// with a random direction, by the fourth-order central difference at the best of four steps.
@Suite(.timeLimit(.minutes(1))) struct WholeModelGradientTests {
  /// The tiny member of `family` at batch 2, with smooth activations where the family has a
  /// choice (a ReLU kink inside the difference stencil would be a false failure) and dropout
  /// on where the family has it.
  static func spec(_ family: TaskFamily) -> TaskSpec {
    var spec = TinySpecs.spec(family, seed: 4)
    spec.batchSize = 2
    if spec.activation != nil { spec.activation = .tanh }
    if family == .vit || family == .transformerLM { spec.model.dropoutRate = 0.2 }
    if family == .resnet {
      // 32 × 32 images and no max pool: the last BatchNorm normalises over 2 × 2 × 2 values
      // (at 16 × 16 with the pool, over 2 × 1 × 1: x̂ = ±1, and the loss is too curved there
      // for any difference step).
      spec.data.imageSize = 32
      spec.model.hasMaxPool = false
    }
    return spec
  }

  /// The worst relative error over tensors and directions, and where it was.
  ///
  /// With `skew`, the analytic gradient of the first tensor is scaled by it (a wrong gradient,
  /// for the negative control).
  static func check(_ family: TaskFamily, skew: Double = 1) throws -> (
    error: Double, location: String, count: Int
  ) {
    let spec = spec(family)
    let task = try spec.makeTask()
    // Initial values plus noise: zero-initialised output layers would otherwise cut every
    // gradient upstream of them.
    var parameters = task.initialParameters(key: spec.initializationKey)
    let noise = RandomKey(seed: 23)
    parameters.withUnsafeMutableBufferPointer { p in
      for i in 0..<p.count { p[i] += 0.1 * noise.normal(at: i) }
    }
    let step = 3
    var gradients = parameters.zerosLike()
    _ = task.lossAndGradient(parameters, step: step, into: &gradients)
    let key = RandomKey(seed: 17)
    var worst = (error: 0.0, location: "nothing checked", count: 0)
    for (index, entry) in parameters.layout.entries.enumerated() {
      let g = gradients[entry.name].scalars.map { Double($0) * (index == 0 ? skew : 1) }
      let norm = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
      guard norm > 1e-6 else { continue }
      let random = (0..<g.count).map { Double(key.folding(in: UInt64(index)).normal(at: $0)) }
      let randomNorm = random.reduce(0) { $0 + $1 * $1 }.squareRoot()
      let directions = [
        g.map { $0 / norm },
        zip(g, random).map { $0 / norm + $1 / randomNorm },
      ]
      for (d, raw) in directions.enumerated() {
        let length = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let v = raw.map { $0 / length }
        let analytic = zip(g, v).reduce(0) { $0 + $1.0 * $1.1 }
        func loss(at t: Double) -> Double {
          var moved = parameters
          moved.withUnsafeMutableBufferPointer(ofTensor: index) { p in
            for i in 0..<p.count { p[i] += Float(t * v[i]) }
          }
          return Double(task.loss(moved, step: step))
        }
        // The best of four steps (0.05 and 0.01, and those giving a first-order loss change
        // of 0.01 and 0.001, at most 0.2): a wrong derivative is off at every step, a right
        // one is matched at some step between round-off (small) and curvature (large).
        var (error, numeric, h) = (Double.infinity, 0.0, 0.0)
        for step in [0.05, 0.01, min(0.01 / abs(analytic), 0.2), min(0.001 / abs(analytic), 0.2)] {
          let estimate =
            (8 * (loss(at: step) - loss(at: -step)) - (loss(at: 2 * step) - loss(at: -2 * step)))
            / (12 * step)
          let relative = abs(analytic - estimate) / max(abs(analytic), abs(estimate))
          if relative < error { (error, numeric, h) = (relative, estimate, step) }
        }
        worst.count += 1
        if error > worst.error || worst.location == "nothing checked" {
          worst.error = max(error, worst.error)
          worst.location =
            "\(entry.name) direction \(d): analytic \(analytic), numeric \(numeric), h \(h)"
        }
      }
    }
    return worst
  }

  @Test(arguments: TaskFamily.allCases)
  func lossAndGradientMatchFiniteDifferences(family: TaskFamily) throws {
    let spec = Self.spec(family)
    let tensors = try spec.makeTask().layout.count
    let (error, location, count) = try Self.check(family)
    // Every tensor with a gradient was checked in both directions (a few may be exactly 0).
    #expect(count >= tensors, "\(family): only \(count) directions for \(tensors) tensors")
    #expect(error < 1e-3, "\(family): worst relative error \(error) at \(location)")
  }

  @Test func aGradientOnePercentOffIsRejected() throws {
    // Negative control: the first tensor's gradient scaled by 1.01.
    let (error, location, _) = try Self.check(.imageMLP, skew: 1.01)
    withKnownIssue("a 1 % error in one tensor's gradient") {
      #expect(error < 1e-3, "worst relative error \(error) at \(location)")
    }
  }
}
