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
  @Test func adafactor() { checkOptimizer(Adafactor(learningRate: 0.1)) }
  @Test func shampoo() { checkOptimizer(Shampoo(learningRate: 0.05, blockSize: 4)) }
  @Test func shampooWithSGDGrafting() {
    checkOptimizer(Shampoo(learningRate: 0.2, startStep: 3, updateInterval: 2, grafting: .sgd))
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

  @Test func theSuiteRejectsAStateThatDoesNotResume() {
    withKnownIssue { checkOptimizer(ForgetfulMomentum()) }
  }

  @Test func theSuiteRejectsARuleThatDoesNotDescend() {
    withKnownIssue { checkOptimizer(Ascent()) }
  }
}
