import Foundation
import LoptCore
import LoptOptimizers
import LoptTestSupport
import Testing

@Suite(.timeLimit(.minutes(1))) struct ConformanceTests {
  @Test func sgd() { checkOptimizer(Momentum.sgd(learningRate: 0.2)) }
  @Test func momentum() { checkOptimizer(Momentum(learningRate: 0.05)) }
  @Test func nesterov() { checkOptimizer(Momentum(learningRate: 0.05, isNesterov: true)) }
  @Test func rmsprop() { checkOptimizer(RMSProp(learningRate: 0.02)) }
  @Test func rmspropWithMomentum() {
    checkOptimizer(RMSProp(learningRate: 0.01, epsilonInsideRoot: false, momentum: 0.9))
  }
  @Test func adam() { checkOptimizer(Adam(learningRate: 0.05)) }
  @Test func adamW() { checkOptimizer(Adam.adamW(learningRate: 0.05)) }
  @Test func nadamW() { checkOptimizer(Adam.nadamW(learningRate: 0.05)) }
  @Test func lion() { checkOptimizer(Lion(learningRate: 0.02)) }
  @Test func muon() { checkOptimizer(Muon(learningRate: 0.02)) }
  /// The shape codes (rank, then extents) of the conformance layout's tensors.
  static let conformanceShapeCode = conformanceLayout.entries.flatMap {
    [$0.shape.count] + $0.shape
  }

  /// Adafactor's packed statistics on the conformance layout: a factored tensor (rank ≥ 2,
  /// second largest extent ≥ `minimumFactoredSize`) keeps count/n₀ + count/n₁ (its row and
  /// column statistics, n₀ ≥ n₁ the two largest extents), any other its count.
  static func adafactorStatistics(minimumFactoredSize: Int) -> Int {
    conformanceLayout.entries.reduce(0) { total, entry in
      let sorted = entry.shape.sorted()
      guard sorted.count >= 2, sorted[sorted.count - 2] >= minimumFactoredSize else {
        return total + entry.count
      }
      return total + entry.count / sorted[sorted.count - 1] + entry.count / sorted[sorted.count - 2]
    }
  }

  @Test(arguments: [128, 16])
  func adafactor(minimumFactoredSize: Int) {
    checkOptimizer(
      Adafactor(learningRate: 0.1, minimumFactoredSize: minimumFactoredSize),
      packedState: [
        "statistics": [Self.adafactorStatistics(minimumFactoredSize: minimumFactoredSize)],
        "tensor_shapes": [Self.conformanceShapeCode.count],
      ])
  }

  /// Shampoo's packed statistics and roots on the conformance layout: a matrix view
  /// `rows × columns` (columns the last extent) of a rank ≥ 2 tensor no side of which exceeds
  /// `maximumPreconditionedSize` is cut into `blockSize` blocks, each keeping an r × r and a
  /// c × c statistic.
  static func shampooStatistics(blockSize: Int, maximumPreconditionedSize: Int) -> Int {
    conformanceLayout.entries.reduce(0) { total, entry in
      guard entry.shape.count >= 2 else { return total }
      let columns = entry.shape.last!
      let rows = entry.count / columns
      guard max(rows, columns) <= maximumPreconditionedSize else { return total }
      var sum = 0
      for r in stride(from: 0, to: rows, by: blockSize) {
        for c in stride(from: 0, to: columns, by: blockSize) {
          let (height, width) = (min(blockSize, rows - r), min(blockSize, columns - c))
          sum += height * height + width * width
        }
      }
      return total + sum
    }
  }

  @Test func shampoo() {
    let optimizer = Shampoo(learningRate: 0.05, blockSize: 4)
    let count = Self.shampooStatistics(
      blockSize: 4, maximumPreconditionedSize: optimizer.maximumPreconditionedSize)
    checkOptimizer(optimizer, packedState: ["statistics": [count], "roots": [count]])
  }
  @Test func shampooWithSGDGrafting() {
    let optimizer = Shampoo(learningRate: 0.2, startStep: 3, updateInterval: 2, grafting: .sgd)
    let count = Self.shampooStatistics(
      blockSize: 128, maximumPreconditionedSize: optimizer.maximumPreconditionedSize)
    checkOptimizer(optimizer, packedState: ["statistics": [count], "roots": [count]])
  }
  @Test func scheduledAndClipped() {
    checkOptimizer(
      ScheduledOptimizer(
        ClippedOptimizer(Adam(learningRate: 0.05), maximumNorm: 1),
        schedule: LearningRateSchedule(decay: .cosine, warmupSteps: 3)))
  }

  /// Momentum whose saved state leaves out the trace, so a resumed run restarts it at zero.
  struct ForgetfulMomentum: Optimizer {
    let base = Momentum(learningRate: 0.05)

    struct State: CheckpointableState {
      var base: Momentum.State

      func write(into file: inout SafetensorsFile, prefix: String) {
        file.setCounter(base.iteration, named: prefix + "iteration")
      }

      mutating func restore(from file: SafetensorsFile, prefix: String) throws {
        base.iteration = try file.readCounter(named: prefix + "iteration")
      }
    }

    func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
      State(base: base.makeState(for: parameters, totalSteps: totalSteps))
    }

    func update(
      _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
    ) {
      base.update(&parameters, gradients: gradients, loss: loss, state: &state.base)
    }
  }

  /// Gradient ascent: loss grows.
  struct Ascent: LearningRateOptimizer {
    let learningRate: Float = 0.1
    let descent = Momentum.sgd(learningRate: 0.1)

    func makeState(for parameters: ParameterSet, totalSteps: Int) -> Momentum.State {
      descent.makeState(for: parameters, totalSteps: totalSteps)
    }

    func update(
      _ parameters: inout ParameterSet, gradients: ParameterSet, learningRate: Float,
      state: inout Momentum.State
    ) {
      descent.update(&parameters, gradients: gradients, learningRate: -learningRate, state: &state)
    }
  }

  /// Momentum whose trace is saved as one flat buffer: it restores into any layout with the
  /// same number of parameters, a transposed matrix included (Adafactor's state before it
  /// recorded its tensor shapes).
  struct PackedMomentum: Optimizer {
    let base = Momentum(learningRate: 0.05)
    /// Whether the state also saves a tensor the suite is not told about.
    var savesUndeclaredTensor = false

    struct State: CheckpointableState {
      var base: Momentum.State
      var savesUndeclaredTensor: Bool

      func write(into file: inout SafetensorsFile, prefix: String) {
        file.setCounter(base.iteration, named: prefix + "iteration")
        file.setFloat(base.momentum.flat, named: prefix + "trace")
        if savesUndeclaredTensor {
          file.setFloat(Tensor(shape: [3], scalars: [1, 2, 3]), named: prefix + "extra")
        }
      }

      mutating func restore(from file: SafetensorsFile, prefix: String) throws {
        base.iteration = try file.readCounter(named: prefix + "iteration")
        let trace = try file.readTensor(named: prefix + "trace", shape: [base.momentum.count])
        base.momentum = ParameterSet(layout: base.momentum.layout, flat: trace)
      }
    }

    func makeState(for parameters: ParameterSet, totalSteps: Int) -> State {
      State(
        base: base.makeState(for: parameters, totalSteps: totalSteps),
        savesUndeclaredTensor: savesUndeclaredTensor)
    }

    func update(
      _ parameters: inout ParameterSet, gradients: ParameterSet, loss: Float, state: inout State
    ) {
      base.update(&parameters, gradients: gradients, loss: loss, state: &state.base)
    }
  }

  @Test func theSuiteRejectsAStateThatLoadsIntoATransposedLayout() {
    // Everything else about it conforms (declared, resumes, descends).
    let packed = ["trace": [conformanceLayout.totalCount]]
    withKnownIssue("a [4, 6] state loads into a [6, 4] layout") {
      checkOptimizer(PackedMomentum(), packedState: packed)
    }
  }

  @Test func theSuiteRejectsAnUndeclaredStateTensor() {
    let packed = ["trace": [conformanceLayout.totalCount]]
    withKnownIssue("state tensor 'extra' is not accounted for") {
      checkOptimizer(PackedMomentum(savesUndeclaredTensor: true), packedState: packed)
    }
  }

  @Test func theSuiteRejectsAStateThatDoesNotResume() {
    withKnownIssue { checkOptimizer(ForgetfulMomentum()) }
  }

  @Test func theSuiteRejectsARuleThatDoesNotDescend() {
    withKnownIssue { checkOptimizer(Ascent()) }
  }
}
