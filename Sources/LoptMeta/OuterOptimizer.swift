import LoptCore
import LoptOptimizers

/// How θ is updated from meta-gradients (docs/meta-training-method.md §5): element-wise clipping,
/// then accumulation of `accumulation` gradients, then one Adam step with their mean, at a learning
/// rate that follows `schedule` over the run's Adam steps (VeLO: constant).
public struct OuterSettings: Codable, Equatable, Sendable {
  /// Outer steps (meta-gradient estimates) of the run.
  public var steps: Int
  /// Adam's learning rate (VeLO: 3e-4).
  public var learningRate: Float
  /// Each gradient element is clipped to ±this (VeLO: 3).
  public var gradientClip: Float
  /// Gradients averaged per Adam step (VeLO: 4 to 20).
  public var accumulation: Int
  /// The learning-rate schedule over the run's `steps / accumulation` Adam steps.
  public var schedule: LearningRateSchedule

  /// Creates settings; the defaults are VeLO's without accumulation.
  public init(
    steps: Int = 1000, learningRate: Float = 3e-4, gradientClip: Float = 3, accumulation: Int = 1,
    schedule: LearningRateSchedule = LearningRateSchedule()
  ) {
    self.steps = steps
    self.learningRate = learningRate
    self.gradientClip = gradientClip
    self.accumulation = accumulation
    self.schedule = schedule
  }

  /// The problems with these settings; empty when usable.
  public var problems: [String] {
    var problems: [String] = []
    if steps < 0 { problems.append("outer.steps must be ≥ 0 (got \(steps))") }
    if !(learningRate > 0) {
      problems.append("outer.learningRate must be > 0 (got \(learningRate))")
    }
    if !(gradientClip > 0) {
      problems.append("outer.gradientClip must be > 0 (got \(gradientClip))")
    }
    if accumulation < 1 {
      problems.append("outer.accumulation must be ≥ 1 (got \(accumulation))")
    }
    if schedule.warmupSteps < 0 {
      problems.append("outer.schedule.warmupSteps must be ≥ 0 (got \(schedule.warmupSteps))")
    }
    return problems
  }
}

/// The outer optimizer's state: what a checkpoint must hold besides θ.
public struct OuterOptimizer: Sendable {
  /// The settings.
  public let settings: OuterSettings
  /// optax's Adam with `eps_root` 1e-8, as VeLO's outer optimizer.
  public let adam: Adam
  /// Adam's moments and step.
  public var adamState: Adam.State
  /// The sum of the clipped gradients since the last Adam step.
  public var accumulated: ParameterSet
  /// How many gradients ``accumulated`` holds.
  public var accumulatedCount: Int

  /// A fresh outer optimizer for θ of `layout`.
  public init(settings: OuterSettings, layout: ParameterLayout) {
    self.settings = settings
    adam = Adam(learningRate: settings.learningRate, epsilonRoot: 1e-8)
    let zeros = ParameterSet(layout: layout)
    adamState = adam.makeState(for: zeros, totalSteps: settings.steps)
    accumulated = zeros
    accumulatedCount = 0
  }

  /// Clips `gradient` in place, adds it to the accumulator and, every `accumulation` calls,
  /// applies Adam to `theta` with the mean.
  ///
  /// - Returns: whether θ changed.
  public mutating func apply(_ gradient: inout ParameterSet, to theta: inout ParameterSet) -> Bool {
    let clip = settings.gradientClip
    gradient.withUnsafeMutableBufferPointer { g in
      accumulated.withUnsafeMutableBufferPointer { a in
        for i in 0..<g.count {
          g[i] = min(max(g[i], -clip), clip)
          a[i] += g[i]
        }
      }
    }
    accumulatedCount += 1
    guard accumulatedCount == settings.accumulation else { return false }
    let scale = 1 / Float(accumulatedCount)
    accumulated.withUnsafeMutableBufferPointer { a in
      for i in 0..<a.count { a[i] *= scale }
    }
    let learningRate =
      settings.learningRate
      * settings.schedule.factor(
        step: adamState.iteration, totalSteps: max(1, settings.steps / settings.accumulation))
    adam.update(&theta, gradients: accumulated, learningRate: learningRate, state: &adamState)
    accumulated.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    accumulatedCount = 0
    return true
  }

  /// Stores the state under `prefix`.
  public func write(into file: inout SafetensorsFile, prefix: String) {
    adamState.write(into: &file, prefix: prefix + "adam/")
    file.setParameters(accumulated, named: prefix + "accumulated")
    file.setCounter(accumulatedCount, named: prefix + "accumulated_count")
  }

  /// Restores the state stored by ``write(into:prefix:)``.
  ///
  /// - Throws: `SafetensorsError` when a tensor is missing or has another shape.
  public mutating func restore(from file: SafetensorsFile, prefix: String) throws {
    try adamState.restore(from: file, prefix: prefix + "adam/")
    try file.readParameters(&accumulated, named: prefix + "accumulated")
    accumulatedCount = try file.readCounter(named: prefix + "accumulated_count")
  }
}
