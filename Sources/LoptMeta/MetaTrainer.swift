import Foundation
import LoptCore

/// How task families are assigned to lanes (docs/meta-training-method.md §6.1).
///
/// There are `slots` live families; lane `i` draws its tasks from slot `i % slots`. At every
/// outer step each slot is independently replaced by a fresh family with probability
/// `resampleProbability` (VeLO: 1/1000 to 1/200). Within a family every episode samples a new
/// task configuration, initialisation and data.
public struct FamilySettings: Codable, Equatable, Sendable {
  /// The number of families live at once.
  public var slots: Int
  /// The probability that a slot gets a new family at an outer step.
  public var resampleProbability: Double

  /// Creates settings; the default keeps four families and replaces each about every 100
  /// outer steps.
  public init(slots: Int = 4, resampleProbability: Double = 0.01) {
    self.slots = slots
    self.resampleProbability = resampleProbability
  }

  /// The problems with these settings; empty when usable.
  public var problems: [String] {
    var problems: [String] = []
    if slots < 1 { problems.append("families.slots must be ≥ 1 (got \(slots))") }
    if !(0...1).contains(resampleProbability) {
      problems.append(
        "families.resampleProbability must be in [0, 1] (got \(resampleProbability))")
    }
    return problems
  }
}

/// One outer step's result.
public struct OuterStepRecord: Codable, Equatable, Sendable {
  /// The number of outer steps done, this one included.
  public var step: Int
  /// The mean over non-diverged lanes of (L⁺ + L⁻)/2; `nil` when every lane diverged.
  public var metaLoss: Float?
  /// The L2 norm of the (unclipped) meta-gradient estimate.
  public var gradientNorm: Float
  /// Lanes whose unroll diverged; they contributed nothing.
  public var divergedLanes: Int
  /// Inner training steps run by all lanes (both copies).
  public var innerSteps: Int
  /// Steps per inner episode of this outer step (FullES) or per truncation.
  public var unrollLength: Int
  /// Whether the outer optimizer changed θ (every `accumulation` steps).
  public var updated: Bool
  /// Wall time of the step in seconds.
  public var seconds: Double
  /// Inner steps per second of wall time, over all threads and processes.
  public var innerStepsPerSecond: Double
}

/// The outer loop: at each step, run this process's lanes on the worker pool, exchange their
/// reports, rebuild the meta-gradient from the seeds and apply the outer optimizer.
///
/// Everything random is a function of the run's seed and the outer step, so θ after `k` steps
/// is the same for any number of threads and processes, and a run restored from a checkpoint
/// (θ, outer optimizer, step) continues exactly — for FullES; the truncated estimators' lanes
/// restart their episodes after a restore.
public final class MetaTrainer<Problem: InnerProblem> {
  /// The gradient estimator.
  public let estimator: GradientEstimator<Problem>
  /// The family slots.
  public let families: FamilySettings
  /// The processes' exchange.
  public let exchange: any LaneExchange
  /// The threads lanes run on.
  public let pool: WorkerPool
  /// The meta-parameters θ.
  public private(set) var theta: ParameterSet
  /// The outer optimizer and its state.
  public private(set) var outer: OuterOptimizer
  /// Outer steps done.
  public private(set) var step = 0
  private var assembler: GradientAssembler
  private var lanes: [Int: LaneState<Problem>] = [:]
  /// The last outer step's meta-gradient estimate, after the outer optimizer's clipping (read
  /// by tests).
  private(set) var gradient: ParameterSet

  /// Creates a trainer starting from `theta`.
  public init(
    estimator: GradientEstimator<Problem>, outer: OuterSettings, families: FamilySettings,
    theta: ParameterSet, exchange: any LaneExchange = LocalExchange(),
    pool: WorkerPool = WorkerPool()
  ) {
    precondition(theta.layout == estimator.problem.metaParameterLayout, "θ has another layout")
    self.estimator = estimator
    self.families = families
    self.exchange = exchange
    self.pool = pool
    self.theta = theta
    self.outer = OuterOptimizer(settings: outer, layout: theta.layout)
    assembler = GradientAssembler(
      settings: estimator.settings, randomness: estimator.randomness, count: theta.count,
      mask: estimator.mask)
    gradient = theta.zerosLike()
  }

  /// Continues from a checkpoint: θ, the outer optimizer's state and the step count.
  ///
  /// Truncated estimators' lanes start new episodes.
  public func restore(theta: ParameterSet, outer: OuterOptimizer, step: Int) {
    precondition(theta.layout == self.theta.layout, "θ has another layout")
    self.theta = theta
    self.outer = outer
    self.step = step
    for lane in lanes.values { lane.reset() }
    assembler.reset()
  }

  /// The family of slot `slot` at outer step `step`: drawn at the last step `≤ step` at which
  /// the slot was resampled (step 0 always is).
  public func family(slot: Int, at step: Int) -> Int {
    let randomness = estimator.randomness
    var drawn = step
    while drawn > 0,
      Double(randomness.family(slot: slot, step: drawn).uniform(at: 0))
        >= families.resampleProbability
    {
      drawn -= 1
    }
    return estimator.problem.sampleFamily(
      key: randomness.family(slot: slot, step: drawn)
        .folding(in: 1))
  }

  /// Runs one outer step.
  ///
  /// - Throws: when a lane's task cannot be built, or the exchange fails.
  public func runStep() throws -> OuterStepRecord {
    let start = Date()
    let pairs = estimator.settings.pairs
    let mine = Array(exchange.lanes(of: pairs))
    let layout = theta.layout
    for lane in mine where lanes[lane] == nil { lanes[lane] = LaneState(layout: layout) }
    let current = step
    let slotFamilies = (0..<min(families.slots, pairs)).map { family(slot: $0, at: current) }
    let (estimator, theta, states) = (self.estimator, self.theta, lanes)
    func familyOf(_ lane: Int) -> Int { slotFamilies[lane % slotFamilies.count] }
    // Costliest jobs first (longest-processing-time), so the threads finish together.
    let jobs = estimator.jobs(for: mine)
    let costs = jobs.map { estimator.problem.relativeCost(family: familyOf($0.lane)) }
    let order = jobs.indices.sorted { (costs[$0], $1) > (costs[$1], $0) }
    let results = JobSlots<Result<LaneReport, any Error>>(count: jobs.count)
    pool.run(jobs.count) { position in
      let job = jobs[order[position]]
      results[order[position]] = Result {
        try estimator.run(
          job, step: current, family: familyOf(job.lane), theta: theta, state: states[job.lane]!)
      }
    }
    let local = estimator.reports(
      of: try (0..<jobs.count).map { try results[$0]!.get() }, step: current)
    let reports = try exchange.gather(local, laneCount: pairs)
    assembler.gradient(reports: reports, step: current, into: &gradient)
    let norm = gradient.withUnsafeBufferPointer { g in
      (0..<g.count).reduce(Float(0)) { $0 + g[$1] * g[$1] }.squareRoot()
    }
    let updated = outer.apply(&gradient, to: &self.theta)
    self.step += 1
    let finite = reports.filter { !$0.diverged }
    let seconds = Date().timeIntervalSince(start)
    let innerSteps = reports.map(\.innerSteps).reduce(0, +)
    return OuterStepRecord(
      step: self.step,
      metaLoss: finite.isEmpty
        ? nil : finite.map { ($0.plus + $0.minus) / 2 }.reduce(0, +) / Float(finite.count),
      gradientNorm: norm, divergedLanes: reports.count - finite.count,
      innerSteps: innerSteps,
      unrollLength: estimator.settings.kind.isTruncated
        ? estimator.settings.unrollLength : estimator.fullLength(step: current),
      updated: updated, seconds: seconds,
      innerStepsPerSecond: seconds > 0 ? Double(innerSteps) / seconds : 0)
  }
}

/// Per-job result slots filled from the worker pool's threads, each slot by one job, so the
/// results do not depend on which thread ran which job.
final class JobSlots<Value>: @unchecked Sendable {
  private let slots: UnsafeMutableBufferPointer<Value?>

  init(count: Int) {
    slots = .allocate(capacity: count)
    slots.initialize(repeating: nil)
  }

  deinit {
    slots.deinitialize()
    slots.deallocate()
  }

  subscript(index: Int) -> Value? {
    get { slots[index] }
    set { slots[index] = newValue }
  }
}
