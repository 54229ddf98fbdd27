import LoptCore

@testable import LoptMeta

/// A meta-objective with a known gradient: every step's loss is the quadratic
/// f(θ) = ½ Σ aⱼ (θⱼ − bⱼ)², so the full-unroll objective is f itself and ∇f = a ⊙ (θ − b).
struct QuadraticProblem: InnerProblem {
  let a: [Float]
  let b: [Float]
  /// Lanes whose θ has an element above this diverge (to test the guard).
  var divergenceThreshold: Float = .infinity

  var metaParameterLayout: ParameterLayout { ParameterLayout([("theta", [a.count])]) }

  func sampleFamily(key: RandomKey) -> Int { 0 }

  func rule(for metaParameters: ParameterSet) throws -> [Float] {
    metaParameters.withUnsafeBufferPointer { Array($0) }
  }

  func startEpisode(key: RandomKey, length: Int, family: Int) throws -> [Float] { [] }

  func value(_ theta: [Float]) -> Float {
    var total: Float = 0
    for j in 0..<a.count {
      let d = theta[j] - b[j]
      total += 0.5 * a[j] * d * d
    }
    return total
  }

  func gradient(_ theta: [Float]) -> [Float] { (0..<a.count).map { a[$0] * (theta[$0] - b[$0]) } }

  func advance(_ episode: inout [Float], rule: [Float], steps: Int, losses: inout [Float]) -> Bool {
    if rule.contains(where: { $0 > divergenceThreshold }) { return false }
    for _ in 0..<steps { losses.append(value(rule)) }
    episode = rule
    return true
  }

  func finalLoss(_ episode: inout [Float], batches: Int) -> Float { value(episode) }
}

/// An unrolled system where θ acts through the inner state.
///
/// wₜ₊₁ = wₜ + θ from w₀ = 0, with per-step loss ½ Σ (wₜ − c)². The average loss over an episode of T steps is
/// L(θ) = (1/T) Σₜ₌₁..T ½ |tθ − c|², so ∇L = (1/T) Σₜ t (tθ − c).
struct DriftProblem: InnerProblem {
  let c: [Float]

  var metaParameterLayout: ParameterLayout { ParameterLayout([("theta", [c.count])]) }

  func sampleFamily(key: RandomKey) -> Int { 0 }

  func rule(for metaParameters: ParameterSet) throws -> [Float] {
    metaParameters.withUnsafeBufferPointer { Array($0) }
  }

  func startEpisode(key: RandomKey, length: Int, family: Int) throws -> [Float] {
    Array(repeating: 0, count: c.count)
  }

  func advance(_ episode: inout [Float], rule: [Float], steps: Int, losses: inout [Float]) -> Bool {
    for _ in 0..<steps {
      for j in 0..<c.count { episode[j] += rule[j] }
      losses.append(loss(episode))
    }
    return true
  }

  func finalLoss(_ episode: inout [Float], batches: Int) -> Float { loss(episode) }

  func loss(_ w: [Float]) -> Float {
    var total: Float = 0
    for j in 0..<c.count {
      let d = w[j] - c[j]
      total += 0.5 * d * d
    }
    return total
  }

  /// ∇L for episodes of `length` steps.
  func averageLossGradient(_ theta: [Float], length: Int) -> [Float] {
    (0..<c.count).map { j in
      var total: Float = 0
      for t in 1...length { total += Float(t) * (Float(t) * theta[j] - c[j]) }
      return total / Float(length)
    }
  }
}

/// The quadratic of ``QuadraticProblem`` with divergences chosen by the test: each episode is
/// told apart by its key, and the episodes the script names diverge on their second step.
struct ScriptedDivergenceProblem: InnerProblem {
  /// Which copies of a scripted episode diverge.
  enum Side {
    /// Both copies.
    case both
    /// Only the copy whose θ₀ lies above ``base``'s (one copy of an antithetic pair).
    case above
  }

  let quadratic: QuadraticProblem
  /// The unperturbed θ.
  let base: [Float]
  /// Divergences by episode fingerprint (``fingerprint(_:)`` of the episode's key).
  let script: [Float: Side]

  static func fingerprint(_ key: RandomKey) -> Float { key.uniform(at: 0) }

  var metaParameterLayout: ParameterLayout { quadratic.metaParameterLayout }

  func sampleFamily(key: RandomKey) -> Int { 0 }

  func rule(for metaParameters: ParameterSet) throws -> [Float] {
    metaParameters.withUnsafeBufferPointer { Array($0) }
  }

  func startEpisode(key: RandomKey, length: Int, family: Int) throws -> (Float, [Float]) {
    (Self.fingerprint(key), [])
  }

  func advance(
    _ episode: inout (Float, [Float]), rule: [Float], steps: Int, losses: inout [Float]
  ) -> Bool {
    let diverges: Bool
    switch script[episode.0] {
    case .both: diverges = true
    case .above: diverges = rule[0] > base[0]
    case nil: diverges = false
    }
    for step in 0..<steps {
      if diverges && step == 1 { return false }
      losses.append(quadratic.value(rule))
    }
    episode.1 = rule
    return true
  }

  func finalLoss(_ episode: inout (Float, [Float]), batches: Int) -> Float {
    quadratic.value(episode.1)
  }
}
