import LoptCore

/// Antithetic ES estimates of the meta-gradient, split into the worker side (unroll a lane's
/// pair of perturbed copies, report two numbers) and the learner side (rebuild the gradient
/// from the reports and the seeds).
///
/// Lane `i` of outer step `k` perturbs θ by ±σε with ε regenerated from
/// ``MetaRandomness/noise(step:lane:)``. FullES starts a fresh episode per lane and unrolls it
/// to its end (VELO_SPEC §4.2). The truncated estimators keep each lane's episode across outer
/// steps and unroll ``EstimatorSettings/unrollLength`` steps per call (§4.3, §4.4): TruncatedES
/// restarts both copies from the carried + state; PES carries both and credits the sum of the
/// episode's perturbations; noise-reuse ES carries both with one ε per episode. Episode lengths
/// of the truncated estimators are rounded up to a multiple of the unroll length so resets fall
/// on call boundaries, which makes PES's bookkeeping exact (no step of an old episode is
/// credited to a new perturbation, unlike the reference's quirk in §4.4).
public struct GradientEstimator<Problem: InnerProblem>: Sendable {
  /// The inner problems.
  public let problem: Problem
  /// The estimator's settings.
  public let settings: EstimatorSettings
  /// The episode lengths.
  public let truncation: TruncationSchedule
  /// The run's random streams.
  public let randomness: MetaRandomness

  /// Creates an estimator.
  public init(
    problem: Problem, settings: EstimatorSettings, truncation: TruncationSchedule,
    randomness: MetaRandomness
  ) {
    self.problem = problem
    self.settings = settings
    self.truncation = truncation
    self.randomness = randomness
  }

  /// The length FullES's lanes share at `step`.
  public func fullLength(step: Int) -> Int {
    truncation.length(outerStep: step, key: randomness.length(step: step, lane: nil))
  }

  /// Runs lane `lane` of outer step `step` with family `family` and reports its two
  /// meta-objectives.
  ///
  /// - Parameters:
  ///   - lane: the lane's index.
  ///   - step: the outer step.
  ///   - family: the task family the lane's episodes come from.
  ///   - theta: θ, unperturbed.
  ///   - state: the lane's persistent state (episodes of the truncated estimators and scratch
  ///     buffers); used by one thread at a time.
  /// - Returns: the lane's two meta-objectives and bookkeeping.
  /// - Throws: when a task cannot be built or θ does not fit the rule.
  public func runLane(
    _ lane: Int, step: Int, family: Int, theta: ParameterSet, state: LaneState<Problem>
  ) throws -> LaneReport {
    let plusEpisode: Problem.Episode
    var minusEpisode: Problem.Episode
    let steps: Int
    if settings.kind.isTruncated {
      if state.plus == nil || state.remaining <= 0 {
        let unroll = settings.unrollLength
        let drawn = truncation.length(
          outerStep: step, key: randomness.length(step: step, lane: lane))
        let length = (drawn + unroll - 1) / unroll * unroll
        let episode = try problem.startEpisode(
          key: randomness.episode(step: step, lane: lane), length: length, family: family)
        (state.plus, state.minus) = (episode, episode)
        (state.episodeStart, state.remaining) = (step, length)
      }
      steps = settings.unrollLength
      plusEpisode = state.plus!
      minusEpisode = settings.kind == .truncatedES ? state.plus! : state.minus!
    } else {
      steps = fullLength(step: step)
      plusEpisode = try problem.startEpisode(
        key: randomness.episode(step: step, lane: lane), length: steps, family: family)
      minusEpisode = plusEpisode
      state.episodeStart = step
    }
    let noiseStep = settings.kind == .noiseReuseES ? state.episodeStart : step
    state.perturb(
      theta, sigma: settings.standardDeviation,
      key: randomness.noise(step: noiseStep, lane: lane))
    var plus = plusEpisode
    let plusObjective = try unroll(&plus, theta: state.plusTheta, steps: steps, state: state)
    let minusObjective = try unroll(
      &minusEpisode, theta: state.minusTheta, steps: steps, state: state)
    let diverged = !(plusObjective.isFinite && minusObjective.isFinite)
    if settings.kind.isTruncated {
      state.remaining -= steps
      if diverged {
        (state.plus, state.minus, state.remaining) = (nil, nil, 0)
      } else {
        (state.plus, state.minus) = (plus, minusEpisode)
      }
    }
    return LaneReport(
      lane: lane, plus: plusObjective, minus: minusObjective, episodeStart: state.episodeStart,
      diverged: diverged, innerSteps: 2 * steps)
  }

  /// Unrolls one copy and scores it; NaN when it diverged.
  private func unroll(
    _ episode: inout Problem.Episode, theta: ParameterSet, steps: Int, state: LaneState<Problem>
  ) throws -> Float {
    let rule = try problem.rule(for: theta)
    state.losses.removeAll(keepingCapacity: true)
    guard problem.advance(&episode, rule: rule, steps: steps, losses: &state.losses),
      !state.losses.isEmpty
    else { return .nan }
    switch settings.objective {
    case .lastRecompute:
      return problem.finalLoss(&episode, batches: settings.recomputeBatches)
    case .average:
      return state.losses.reduce(0, +) / Float(state.losses.count)
    case .last:
      return state.losses[state.losses.count - 1]
    }
  }
}

/// A lane's state between outer steps.
///
/// It holds the truncated estimators' episodes and the buffers for θ ± σε, and is used by one
/// thread at a time.
public final class LaneState<Problem: InnerProblem>: @unchecked Sendable {
  /// The + copy's episode (truncated estimators).
  var plus: Problem.Episode?
  /// The − copy's episode (PES, noise-reuse ES).
  var minus: Problem.Episode?
  /// The outer step the current episode began at.
  var episodeStart = 0
  /// Steps left in the current episode.
  var remaining = 0
  /// The per-step losses of the unroll in progress.
  var losses: [Float] = []
  /// θ + σε.
  var plusTheta: ParameterSet
  /// θ − σε.
  var minusTheta: ParameterSet

  /// A lane with no episode, for meta-parameters of `layout`.
  public init(layout: ParameterLayout) {
    plusTheta = ParameterSet(layout: layout)
    minusTheta = ParameterSet(layout: layout)
  }

  /// Forgets the episodes (after a resume, or when the lane moves to another process).
  public func reset() {
    (plus, minus, remaining) = (nil, nil, 0)
  }

  /// Sets ``plusTheta`` and ``minusTheta`` to θ ± σε with ε drawn from `key`.
  func perturb(_ theta: ParameterSet, sigma: Float, key: RandomKey) {
    plusTheta.withUnsafeMutableBufferPointer { plus in
      key.fillNormal(plus)
      minusTheta.withUnsafeMutableBufferPointer { minus in
        theta.withUnsafeBufferPointer { theta in
          for i in 0..<theta.count {
            let delta = sigma * plus[i]
            plus[i] = theta[i] + delta
            minus[i] = theta[i] - delta
          }
        }
      }
    }
  }
}

/// The learner side: turns one outer step's lane reports into the meta-gradient.
///
/// FullES and TruncatedES: ĝ = (1/N) Σᵢ Δᵢ εᵢ / (2σ), εᵢ of this step and lane. Noise-reuse ES:
/// the same with εᵢ of the lane's episode start. PES: ĝ = (1/N) Σᵢ Δᵢ Aᵢ / (2σ) with Aᵢ the sum
/// of the lane's ε since its episode began, kept here (every process keeps the same copy).
/// Δᵢ is ``EstimatorSettings/processedDifference(plus:minus:)``, 0 for a diverged lane.
public struct GradientAssembler: Sendable {
  /// The estimator's settings.
  public let settings: EstimatorSettings
  /// The run's random streams.
  public let randomness: MetaRandomness
  private var accumulated: [Int: Tensor] = [:]
  private var noise: Tensor

  /// An assembler for meta-parameters of `count` elements.
  public init(settings: EstimatorSettings, randomness: MetaRandomness, count: Int) {
    self.settings = settings
    self.randomness = randomness
    noise = Tensor(shape: [count])
  }

  /// Writes the gradient of outer step `step` into `gradient` (overwritten).
  ///
  /// - Precondition: `reports` holds every lane of the step (any order).
  public mutating func gradient(
    reports: [LaneReport], step: Int, into gradient: inout ParameterSet
  ) {
    let scale = 1 / (2 * settings.standardDeviation * Float(reports.count))
    gradient.withUnsafeMutableBufferPointer { g in
      g.update(repeating: 0)
      for report in reports.sorted(by: { $0.lane < $1.lane }) {
        let noiseStep = settings.kind == .noiseReuseES ? report.episodeStart : step
        noise.withUnsafeMutableBufferPointer {
          randomness.noise(step: noiseStep, lane: report.lane).fillNormal($0)
        }
        var direction = noise
        if settings.kind == .pes {
          if report.episodeStart == step || accumulated[report.lane] == nil {
            accumulated[report.lane] = noise
          } else {
            accumulated[report.lane]!.withUnsafeMutableBufferPointer { a in
              noise.withUnsafeBufferPointer { e in
                for i in 0..<a.count { a[i] += e[i] }
              }
            }
          }
          direction = accumulated[report.lane]!
        }
        let difference =
          report.diverged
          ? 0 : settings.processedDifference(plus: report.plus, minus: report.minus)
        guard difference != 0 else { continue }
        let c = difference * scale
        direction.withUnsafeBufferPointer { d in
          for i in 0..<g.count { g[i] += c * d[i] }
        }
      }
    }
  }

  /// Forgets PES's accumulated perturbations (the lanes start new episodes).
  public mutating func reset() { accumulated.removeAll() }
}
