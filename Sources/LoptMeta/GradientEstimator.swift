import LoptCore
import LoptTraining

/// Antithetic ES estimates of the meta-gradient, split into the worker side (unroll a lane's
/// pair of perturbed copies, report two numbers) and the learner side (rebuild the gradient
/// from the reports and the seeds).
///
/// Lane `i` of outer step `k` perturbs θ by ±σε with ε regenerated from
/// ``MetaRandomness/noise(step:lane:)``. FullES starts a fresh episode per lane and unrolls it
/// to its end (docs/meta-training-method.md §2.1). The truncated estimators keep each lane's
/// episode across outer steps and unroll ``EstimatorSettings/unrollLength`` steps per call (§2.2,
/// §2.3): TruncatedES restarts both copies from the carried + state; PES carries both and credits
/// the sum of the episode's perturbations; noise-reuse ES carries both with one ε per episode.
/// Episode lengths of the truncated estimators are rounded up to a multiple of the unroll length so
/// resets fall on call boundaries, which makes PES's bookkeeping exact (no step of an old episode
/// is credited to a new perturbation, unlike the reference's quirk in §2.3).
public struct GradientEstimator<Problem: InnerProblem>: Sendable {
  /// The inner problems.
  public let problem: Problem
  /// The estimator's settings.
  public let settings: EstimatorSettings
  /// The episode lengths.
  public let truncation: TruncationSchedule
  /// The run's random streams.
  public let randomness: MetaRandomness
  /// Where ε is zero (``EstimatorSettings/frozen``).
  public let mask: NoiseMask

  /// Creates an estimator.
  ///
  /// - Throws: ``MetaTrainingError/invalidConfiguration(_:)`` when a frozen prefix names no
  ///   meta-parameter.
  public init(
    problem: Problem, settings: EstimatorSettings, truncation: TruncationSchedule,
    randomness: MetaRandomness
  ) throws {
    self.problem = problem
    self.settings = settings
    self.truncation = truncation
    self.randomness = randomness
    mask = try NoiseMask(frozen: settings.frozen, layout: problem.metaParameterLayout)
  }

  /// The length FullES's lanes share at `step`.
  public func fullLength(step: Int) -> Int {
    truncation.length(outerStep: step, key: randomness.length(step: step, lane: nil))
  }

  /// The jobs of one outer step for `lanes`: one per lane for the truncated estimators (a
  /// lane's copies continue the lane's episodes), one per copy for FullES (the copies share
  /// nothing but their seeds, so the smaller jobs balance threads better), + before −.
  public func jobs(for lanes: [Int]) -> [LaneJob] {
    lanes.flatMap { lane in
      settings.kind.isTruncated
        ? [LaneJob(lane: lane, sign: nil)]
        : [LaneJob(lane: lane, sign: 1), LaneJob(lane: lane, sign: -1)]
    }
  }

  /// Runs `job` of outer step `step` with family `family`; for a FullES copy the report
  /// carries the copy's objective in both halves until ``reports(of:step:)`` pairs it.
  ///
  /// - Parameters:
  ///   - job: the job, from ``jobs(for:)``.
  ///   - step: the outer step.
  ///   - family: the task family the lane's episodes come from.
  ///   - theta: θ, unperturbed.
  ///   - state: the lane's persistent state (episodes of the truncated estimators and scratch
  ///     buffers); each copy's half is used by one thread at a time.
  /// - Returns: the job's report.
  /// - Throws: when a task cannot be built or θ does not fit the rule.
  public func run(
    _ job: LaneJob, step: Int, family: Int, theta: ParameterSet, state: LaneState<Problem>
  ) throws -> LaneReport {
    guard let sign = job.sign else {
      return try runTruncatedLane(job.lane, step: step, family: family, theta: theta, state: state)
    }
    let steps = fullLength(step: step)
    var episode = try problem.startEpisode(
      key: randomness.episode(step: step, lane: job.lane), length: steps, family: family)
    let objective = try unroll(
      &episode, copy: sign > 0 ? state.plusCopy : state.minusCopy, theta: theta, sign: sign,
      key: randomness.noise(step: step, lane: job.lane), steps: steps)
    return report(job.lane, step: step, plus: objective, minus: objective)
  }

  /// The lanes' reports from their jobs' reports (given in ``jobs(for:)`` order).
  ///
  /// FullES's + and − copies are joined into one report per lane.
  public func reports(of jobReports: [LaneReport], step: Int) -> [LaneReport] {
    guard !settings.kind.isTruncated else { return jobReports }
    return stride(from: 0, to: jobReports.count, by: 2).map {
      report(
        jobReports[$0].lane, step: step, plus: jobReports[$0].plus,
        minus: jobReports[$0 + 1].minus)
    }
  }

  /// Runs every job of lane `lane` one after the other and returns the lane's report: the
  /// same code an outer step runs, on one thread.
  public func runLane(
    _ lane: Int, step: Int, family: Int, theta: ParameterSet, state: LaneState<Problem>
  ) throws -> LaneReport {
    let jobReports = try jobs(for: [lane]).map {
      try run($0, step: step, family: family, theta: theta, state: state)
    }
    return reports(of: jobReports, step: step)[0]
  }

  /// A truncated estimator's lane: both copies continue the lane's episodes (a new one when
  /// the last ended or diverged) for one unroll.
  private func runTruncatedLane(
    _ lane: Int, step: Int, family: Int, theta: ParameterSet, state: LaneState<Problem>
  ) throws -> LaneReport {
    if state.plus == nil || state.remaining <= 0 {
      let unroll = settings.unrollLength
      let drawn = truncation.length(outerStep: step, key: randomness.length(step: step, lane: lane))
      let length = (drawn + unroll - 1) / unroll * unroll
      let episode = try problem.startEpisode(
        key: randomness.episode(step: step, lane: lane), length: length, family: family)
      (state.plus, state.minus) = (episode, episode)
      (state.episodeStart, state.remaining) = (step, length)
    }
    let steps = settings.unrollLength
    var plus = state.plus!
    var minus = settings.kind == .truncatedES ? state.plus! : state.minus!
    let noiseStep = settings.kind == .noiseReuseES ? state.episodeStart : step
    let key = randomness.noise(step: noiseStep, lane: lane)
    let plusObjective = try unroll(
      &plus, copy: state.plusCopy, theta: theta, sign: 1, key: key, steps: steps)
    let minusObjective = try unroll(
      &minus, copy: state.minusCopy, theta: theta, sign: -1, key: key, steps: steps)
    let diverged = !(plusObjective.isFinite && minusObjective.isFinite)
    state.remaining -= steps
    if diverged {
      (state.plus, state.minus, state.remaining) = (nil, nil, 0)
    } else {
      (state.plus, state.minus) = (plus, minus)
    }
    return LaneReport(
      lane: lane, plus: plusObjective, minus: minusObjective, episodeStart: state.episodeStart,
      diverged: diverged, innerSteps: 2 * steps)
  }

  /// The report of a FullES lane from its two copies' objectives.
  private func report(_ lane: Int, step: Int, plus: Float, minus: Float) -> LaneReport {
    LaneReport(
      lane: lane, plus: plus, minus: minus, episodeStart: step,
      diverged: !(plus.isFinite && minus.isFinite), innerSteps: 2 * fullLength(step: step))
  }

  /// Unrolls one copy under θ + sign·σε (ε from `key`) and scores it; NaN when it diverged.
  private func unroll(
    _ episode: inout Problem.Episode, copy: CopyState, theta: ParameterSet, sign: Float,
    key: RandomKey, steps: Int
  ) throws -> Float {
    copy.perturb(theta, by: sign * settings.standardDeviation, key: key, mask: mask)
    let rule = try problem.rule(for: copy.theta)
    copy.losses.removeAll(keepingCapacity: true)
    guard problem.advance(&episode, rule: rule, steps: steps, losses: &copy.losses),
      !copy.losses.isEmpty
    else { return .nan }
    switch settings.objective {
    case .lastRecompute:
      return problem.finalLoss(&episode, batches: settings.recomputeBatches)
    case .average:
      return copy.losses.reduce(0, +) / Float(copy.losses.count)
    case .last:
      return copy.losses[copy.losses.count - 1]
    }
  }
}

/// A lane's state between outer steps.
///
/// It holds the truncated estimators' episodes and a `CopyState` for each of the + and −
/// copies. Each copy's state is used by one thread at a time.
public final class LaneState<Problem: InnerProblem>: @unchecked Sendable {
  /// The + copy's episode (truncated estimators).
  var plus: Problem.Episode?
  /// The − copy's episode (PES, noise-reuse ES).
  var minus: Problem.Episode?
  /// The outer step the current episode began at.
  var episodeStart = 0
  /// Steps left in the current episode.
  var remaining = 0
  /// The + copy's buffers.
  let plusCopy: CopyState
  /// The − copy's buffers.
  let minusCopy: CopyState

  /// A lane with no episode, for meta-parameters of `layout`.
  public init(layout: ParameterLayout) {
    plusCopy = CopyState(layout: layout)
    minusCopy = CopyState(layout: layout)
  }

  /// Forgets the episodes (after a resume, or when the lane moves to another process).
  public func reset() {
    (plus, minus, remaining) = (nil, nil, 0)
  }
}

/// One copy's buffers: its perturbed θ and its unroll's per-step losses.
final class CopyState: @unchecked Sendable {
  /// θ + sign·σε.
  var theta: ParameterSet
  /// The per-step losses of the unroll in progress.
  var losses: [Float] = []

  init(layout: ParameterLayout) { theta = ParameterSet(layout: layout) }

  /// Sets ``theta`` to `base + scale·ε` with ε drawn from `key` and masked by `mask`.
  func perturb(_ base: ParameterSet, by scale: Float, key: RandomKey, mask: NoiseMask) {
    theta.withUnsafeMutableBufferPointer { perturbed in
      mask.fill(perturbed, key: key)
      base.withUnsafeBufferPointer { base in
        for i in 0..<base.count { perturbed[i] = base[i] + scale * perturbed[i] }
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
  /// Where ε is zero.
  public let mask: NoiseMask
  private var accumulated: [Int: Tensor] = [:]
  private var noise: Tensor

  /// An assembler for meta-parameters of `count` elements.
  public init(
    settings: EstimatorSettings, randomness: MetaRandomness, count: Int,
    mask: NoiseMask = NoiseMask()
  ) {
    self.settings = settings
    self.randomness = randomness
    self.mask = mask
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
          mask.fill($0, key: randomness.noise(step: noiseStep, lane: report.lane))
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

/// The perturbation noise ε with the frozen meta-parameters' elements set to zero.
public struct NoiseMask: Sendable, Equatable {
  /// The element ranges of θ whose ε is zero.
  public let frozen: [Range<Int>]

  /// No frozen elements.
  public init() { frozen = [] }

  /// The ranges of the tensors of `layout` whose names start with one of `prefixes`.
  ///
  /// - Throws: ``MetaTrainingError/invalidConfiguration(_:)`` naming a prefix that matches
  ///   no tensor.
  public init(frozen prefixes: [String], layout: ParameterLayout) throws {
    let unmatched = prefixes.filter { prefix in !layout.names.contains { $0.hasPrefix(prefix) } }
    guard unmatched.isEmpty else {
      throw MetaTrainingError.invalidConfiguration(
        unmatched.map {
          "estimator.frozen: '\($0)' names no meta-parameter (they are "
            + layout.names.joined(separator: ", ") + ")"
        })
    }
    frozen = layout.entries.filter { entry in prefixes.contains { entry.name.hasPrefix($0) } }
      .map { $0.offset..<($0.offset + $0.count) }
  }

  /// Fills `buffer` with ε ~ N(0, I) from `key`, zero on the frozen ranges.
  public func fill(_ buffer: UnsafeMutableBufferPointer<Float>, key: RandomKey) {
    key.fillNormal(buffer)
    for range in frozen {
      for i in range { buffer[i] = 0 }
    }
  }
}

/// One unit of work of an outer step: a whole lane, or one copy (`sign` ±1) of a FullES pair.
public struct LaneJob: Sendable, Equatable {
  /// The lane.
  public let lane: Int
  /// The copy's sign for FullES; `nil` for a whole lane of a truncated estimator.
  public let sign: Float?
}
